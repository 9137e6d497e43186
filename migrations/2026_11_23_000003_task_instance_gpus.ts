/* eslint-disable @typescript-eslint/no-explicit-any -- migrations take Kysely<any>: they are frozen in time, not typed by today's schema */
import type { Kysely } from 'kysely';

/** The GPU device ids a try ran with (comma-separated), on the task instance and its history. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('task_instance').addColumn('gpu_devices', 'text').execute();
  await db.schema.alterTable('task_instance_history').addColumn('gpu_devices', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('task_instance_history').dropColumn('gpu_devices').execute();
  await db.schema.alterTable('task_instance').dropColumn('gpu_devices').execute();
}
