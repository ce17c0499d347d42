/**
 * The lock file of an embedded database folder, `<dataDir>/pglite.lock`, apart from PGlite itself so that a
 * process can check it cheaply: the CLI (to reach the running service's server) and `npm start` (to refuse a
 * second start before it starts anything else, the sandbox included).
 */
import { openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { DatabaseError } from './errors.js';

/** Contents of the lock file. */
export interface EmbeddedLock {
  pid: number;
  /** Loopback port the running process serves its PGlite on. */
  port: number;
  startedAt: string;
}

/** Path of the lock file for a data folder. */
export function lockPathFor(dataDir: string): string {
  return resolve(dataDir, 'pglite.lock');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The `db_locked` error when a live process holds the lock of `dataDir`, else undefined (nothing is taken).
 */
export function lockedError(dataDir: string): DatabaseError | undefined {
  const path = lockPathFor(dataDir);
  const live = readLiveLock(dataDir) ?? (justCreated(path) ? { pid: 0, port: 0, startedAt: '' } : undefined);
  if (!live) return undefined;
  return new DatabaseError(
    'db_locked',
    `The embedded database in ${resolve(dataDir)} is in use by process ${live.pid} (lock file ${path}). ` +
      'Stop that process first, or set DATA_DIR to another folder, or DATABASE_URL to a PostgreSQL server.',
  );
}

/**
 * Reads the lock of a data folder; returns it when the owning process is alive, else undefined.
 */
export function readLiveLock(dataDir: string): EmbeddedLock | undefined {
  try {
    const lock = JSON.parse(readFileSync(lockPathFor(dataDir), 'utf8')) as EmbeddedLock;
    return pidAlive(lock.pid) ? lock : undefined;
  } catch {
    return undefined;
  }
}

/** A lock file written in the last few seconds counts as live even before its owner has filled it in. */
function justCreated(path: string): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs < 5000 && readFileSync(path, 'utf8').trim() === '';
  } catch {
    return false;
  }
}

/** Removes the lock file only when it is ours (never another process's). */
export function releaseLock(path: string): void {
  try {
    const held = JSON.parse(readFileSync(path, 'utf8')) as EmbeddedLock;
    if (held.pid !== process.pid) return;
  } catch {
    /* unreadable: ours was half-written */
  }
  rmSync(path, { force: true });
}

/**
 * Takes the lock of `dataDir` with an exclusive create (a stale lock of a dead process is removed first).
 * @throws DatabaseError `db_locked` when a live process holds it.
 */
export function takeLock(dataDir: string): { fd: number; path: string } {
  const path = lockPathFor(dataDir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      // Our pid goes in at once (port 0 until the server listens): a second starter during our initdb must see a
      // live owner, not an empty file it would take for stale.
      const early: EmbeddedLock = { pid: process.pid, port: 0, startedAt: new Date().toISOString() };
      writeSync(fd, JSON.stringify(early));
      return { fd, path };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const locked = lockedError(dataDir);
      if (locked) throw locked;
      rmSync(path, { force: true }); // stale: its process is gone
    }
  }
  throw new DatabaseError('db_locked', `Could not take the lock file ${path}`);
}

