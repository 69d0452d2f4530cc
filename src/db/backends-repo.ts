import { sql } from 'drizzle-orm';
import type { Executor } from './database.js';

export interface BackendRow {
  id: number;
  name: string;
  kind: string;
  location: string;
  config: Record<string, unknown>;
}

export async function upsertBackend(ex: Executor, b: BackendRow): Promise<void> {
  await ex.rows(
    sql`INSERT INTO backends (backend_id, name, kind, location, config)
        VALUES (${b.id}, ${b.name}, ${b.kind}, ${b.location}, ${JSON.stringify(b.config)}::jsonb)
        ON CONFLICT (backend_id) DO UPDATE SET name = excluded.name, kind = excluded.kind,
          location = excluded.location, config = excluded.config`,
  );
}
