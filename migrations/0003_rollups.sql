CREATE TABLE "rollup_deltas" (
	"backend_id" bigint NOT NULL,
	"id" bigserial NOT NULL,
	"dir_id" bigint NOT NULL,
	"size_bytes" bigint NOT NULL,
	"file_count" bigint NOT NULL,
	"dir_count" bigint NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "rollup_deltas_backend_id_id_pk" PRIMARY KEY("backend_id","id")
);
--> statement-breakpoint
CREATE TABLE "rollups" (
	"backend_id" bigint NOT NULL,
	"dir_id" bigint NOT NULL,
	"size_bytes" bigint DEFAULT 0 NOT NULL,
	"file_count" bigint DEFAULT 0 NOT NULL,
	"dir_count" bigint DEFAULT 0 NOT NULL,
	"stale" boolean DEFAULT false NOT NULL,
	"calculated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "rollups_backend_id_dir_id_pk" PRIMARY KEY("backend_id","dir_id")
);
--> statement-breakpoint
-- Directories that exist already: a rollup row each, and their direct contents as deltas, which the rollup worker folds.
INSERT INTO "rollups" ("backend_id", "dir_id") SELECT "backend_id", "id" FROM "nodes" WHERE "kind" = 'DIRECTORY' AND "state" <> 'DELETED';--> statement-breakpoint
INSERT INTO "rollup_deltas" ("backend_id", "dir_id", "size_bytes", "file_count", "dir_count")
SELECT "backend_id", "parent_id",
       coalesce(sum("size_bytes") FILTER (WHERE "kind" = 'FILE'), 0),
       count(*) FILTER (WHERE "kind" = 'FILE'),
       count(*) FILTER (WHERE "kind" = 'DIRECTORY')
FROM "nodes" WHERE "state" <> 'DELETED' AND "parent_id" IS NOT NULL
GROUP BY "backend_id", "parent_id";
