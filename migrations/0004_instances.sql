CREATE SEQUENCE "public"."instance_lock_keys" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1 CYCLE;--> statement-breakpoint
CREATE TABLE "instances" (
	"id" text PRIMARY KEY NOT NULL,
	"lock_key" integer NOT NULL,
	"host" text NOT NULL,
	"pid" integer NOT NULL,
	"addr" text NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "instances_lock_key_unique" UNIQUE("lock_key")
);
