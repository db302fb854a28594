/* The history database's schema: creation, checks, migration. */
#ifndef OVL_SCHEMA_H
#define OVL_SCHEMA_H

#include "db.h"

#define SCHEMA_APPLICATION_ID 0x4f564c31   /* "OVL1" */
#define SCHEMA_VERSION 1

/* Create every table in an empty database (inside a transaction). */
int schema_create(struct db *db);

/*
 * Make sure DB is an ovl history database this program understands:
 * application_id, user_version (older ones migrated, newer refused).
 * Never "repairs" anything by recreating.  Cheap: run on every open.
 */
int schema_check(struct db *db, bool writable);

/* PRAGMA quick_check: reads the whole database (for verify). */
int schema_quick_check(struct db *db);

#endif
