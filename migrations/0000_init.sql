CREATE SEQUENCE "public"."node_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1;--> statement-breakpoint
CREATE TABLE "backends" (
	"backend_id" bigint PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"kind" text NOT NULL,
	"location" text NOT NULL,
	"config" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "journal_entries" (
	"backend_id" bigint NOT NULL,
	"id" bigserial NOT NULL,
	"command" text NOT NULL,
	"status" text NOT NULL,
	"principal" text NOT NULL,
	"idempotency_key" text,
	"idempotency_active" boolean DEFAULT true NOT NULL,
	"params_hash" text NOT NULL,
	"params" jsonb NOT NULL,
	"plan" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"result" jsonb,
	"error" jsonb,
	"path" text COLLATE "C" NOT NULL,
	"target_backend_id" bigint,
	"target_path" text COLLATE "C",
	"node_id" bigint,
	"instance_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone,
	CONSTRAINT "journal_entries_backend_id_id_pk" PRIMARY KEY("backend_id","id")
);
--> statement-breakpoint
CREATE TABLE "nodes" (
	"backend_id" bigint NOT NULL,
	"id" bigint DEFAULT nextval('node_id_seq') NOT NULL,
	"parent_id" bigint,
	"path" text COLLATE "C" NOT NULL,
	"name" text COLLATE "C" NOT NULL,
	"kind" text NOT NULL,
	"state" text DEFAULT 'ACTIVE' NOT NULL,
	"version" bigint DEFAULT 1 NOT NULL,
	"size_bytes" bigint DEFAULT 0 NOT NULL,
	"sha256" text,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deleted_at" timestamp with time zone,
	CONSTRAINT "nodes_backend_id_id_pk" PRIMARY KEY("backend_id","id")
);
--> statement-breakpoint
CREATE TABLE "snapshots" (
	"backend_id" bigint NOT NULL,
	"node_id" bigint NOT NULL,
	"version" bigint NOT NULL,
	"path" text COLLATE "C" NOT NULL,
	"kind" text NOT NULL,
	"state" text NOT NULL,
	"size_bytes" bigint NOT NULL,
	"sha256" text,
	"metadata" jsonb NOT NULL,
	"journal_id" bigint,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "snapshots_backend_id_node_id_version_pk" PRIMARY KEY("backend_id","node_id","version")
);
--> statement-breakpoint
CREATE UNIQUE INDEX "journal_idempotency_uq" ON "journal_entries" USING btree ("backend_id","principal","idempotency_key") WHERE idempotency_key IS NOT NULL AND idempotency_active;--> statement-breakpoint
CREATE INDEX "journal_created_idx" ON "journal_entries" USING btree ("created_at","id");--> statement-breakpoint
CREATE INDEX "journal_node_idx" ON "journal_entries" USING btree ("backend_id","node_id","id");--> statement-breakpoint
CREATE INDEX "journal_id_idx" ON "journal_entries" USING btree ("id");--> statement-breakpoint
CREATE INDEX "journal_pending_idx" ON "journal_entries" USING btree ("instance_id","id") WHERE status = 'PENDING';--> statement-breakpoint
CREATE UNIQUE INDEX "nodes_live_path_uq" ON "nodes" USING btree ("backend_id","path") WHERE state <> 'DELETED';--> statement-breakpoint
CREATE INDEX "nodes_children_idx" ON "nodes" USING btree ("backend_id","parent_id","name") WHERE state <> 'DELETED';--> statement-breakpoint
CREATE INDEX "nodes_id_idx" ON "nodes" USING btree ("id");