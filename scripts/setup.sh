#!/usr/bin/env bash
# First command on a fresh Debian 12 machine (as root): install what ovl
# needs, build it in build/normal, and show it at work on sample images.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

bash "$here/deps.sh"
bash "$here/build.sh" normal
bash "$here/demo.sh"
