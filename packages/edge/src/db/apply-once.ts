/**
 * A function that creates a set of tables if they are missing, once per D1 binding per isolate
 * (statements are `CREATE … IF NOT EXISTS`, so local stacks and tests need no migration step). A
 * failed attempt (e.g. a transient D1 error) is not remembered: the next call tries again.
 *
 * @example
 * export const ensureGithubSchema = applyOnce(GITHUB_SCHEMA);
 * await ensureGithubSchema(env.DB);
 */
export function applyOnce(statements: readonly string[]): (db: D1Database) => Promise<void> {
  const applied = new WeakMap<D1Database, Promise<void>>();
  return (db) => {
    let done = applied.get(db);
    if (!done) {
      done = db.batch(statements.map((sql) => db.prepare(sql))).then(() => undefined);
      done.catch(() => applied.delete(db));
      applied.set(db, done);
    }
    return done;
  };
}
