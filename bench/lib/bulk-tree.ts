// Trees bulk-loaded with SQL straight into a server's database (metadata only: no file exists on
// disk), for the sections that measure reads of large trees.
import type pg from 'pg';

/** The tree under root: t<i> directories, t<i>/s<j> directories, t<i>/s<j>/f<k>.bin files of 1000 + k bytes. */
export async function loadTree(db: pg.Client, root: number, tree: { top: number; sub: number; files: number }): Promise<void> {
  await db.query('BEGIN');
  await db.query(
    `INSERT INTO nodes (backend_id, id, parent_id, path, name, kind, state, size_bytes)
     SELECT 1, nextval('node_id_seq'), $1, 't' || i, 't' || i, 'DIRECTORY', 'ACTIVE', 0 FROM generate_series(0, $2 - 1) i`,
    [root, tree.top],
  );
  await db.query(
    `INSERT INTO nodes (backend_id, id, parent_id, path, name, kind, state, size_bytes)
     SELECT 1, nextval('node_id_seq'), t.id, t.path || '/s' || j, 's' || j, 'DIRECTORY', 'ACTIVE', 0
     FROM nodes t, generate_series(0, $2 - 1) j WHERE t.backend_id = 1 AND t.parent_id = $1 AND t.kind = 'DIRECTORY' AND t.path LIKE 't%'`,
    [root, tree.sub],
  );
  await db.query(
    `INSERT INTO nodes (backend_id, id, parent_id, path, name, kind, state, size_bytes)
     SELECT 1, nextval('node_id_seq'), s.id, s.path || '/f' || k || '.bin', 'f' || k || '.bin', 'FILE', 'ACTIVE', 1000 + k
     FROM nodes s, generate_series(0, $1 - 1) k WHERE s.backend_id = 1 AND s.kind = 'DIRECTORY' AND s.path LIKE 't%/s%'`,
    [tree.files],
  );
  await db.query(
    `INSERT INTO rollups (backend_id, dir_id) SELECT 1, id FROM nodes WHERE backend_id = 1 AND kind = 'DIRECTORY' AND path <> '' ON CONFLICT DO NOTHING`,
  );
  await db.query('COMMIT');
  await db.query('ANALYZE nodes, rollups');
}

/** `count` file rows of 100 bytes directly in a new directory `name` under root (f<k>.bin). */
export async function loadWideDirectory(db: pg.Client, root: number, name: string, count: number): Promise<void> {
  await db.query('BEGIN');
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO nodes (backend_id, id, parent_id, path, name, kind, state, size_bytes)
     VALUES (1, nextval('node_id_seq'), $1, $2, $2, 'DIRECTORY', 'ACTIVE', 0) RETURNING id`,
    [root, name],
  );
  await db.query(
    `INSERT INTO nodes (backend_id, id, parent_id, path, name, kind, state, size_bytes, sha256)
     SELECT 1, nextval('node_id_seq'), $1, $2 || '/f' || k || '.bin', 'f' || k || '.bin', 'FILE', 'ACTIVE', 100, md5(k::text) || md5(k::text)
     FROM generate_series(0, $3 - 1) k`,
    [rows[0].id, name, count],
  );
  await db.query('COMMIT');
  await db.query('ANALYZE nodes');
}
