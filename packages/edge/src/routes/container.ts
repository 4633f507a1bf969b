import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import { requireUser } from "../auth.ts";
import type { Env } from "../env.ts";

/** The signed-in user's container: its state, and stopping or destroying it by hand. */
export const containerRoutes = new Hono<AppEnv>();

const box = (env: Env, userId: string) => env.CONTAINER.get(env.CONTAINER.idFromName(userId));

containerRoutes.get("/container", requireUser, async (c) =>
  c.json(await box(c.env, c.var.user.id).status(c.var.user.id)),
);

containerRoutes.post("/container/stop", requireUser, async (c) => {
  const stub = box(c.env, c.var.user.id);
  await stub.status(c.var.user.id);
  return c.json(await stub.stop("stopped"));
});

containerRoutes.delete("/container", requireUser, async (c) => {
  const stub = box(c.env, c.var.user.id);
  await stub.status(c.var.user.id);
  return c.json(await stub.destroy());
});
