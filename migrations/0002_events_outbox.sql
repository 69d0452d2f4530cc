CREATE TABLE "event_horizons" (
	"backend_id" bigint PRIMARY KEY NOT NULL,
	"pruned_through" bigint NOT NULL,
	"pruned_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "events" (
	"backend_id" bigint NOT NULL,
	"cursor" bigint NOT NULL,
	"type" text NOT NULL,
	"journal_id" bigint,
	"command" text,
	"principal" text,
	"node_id" bigint,
	"path" text COLLATE "C" NOT NULL,
	"source_backend_id" bigint,
	"source_path" text COLLATE "C",
	"node" jsonb,
	"occurred_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "events_backend_id_cursor_pk" PRIMARY KEY("backend_id","cursor")
);
--> statement-breakpoint
CREATE INDEX "events_cursor_idx" ON "events" USING btree ("cursor");--> statement-breakpoint
CREATE INDEX "events_occurred_idx" ON "events" USING btree ("backend_id","occurred_at");