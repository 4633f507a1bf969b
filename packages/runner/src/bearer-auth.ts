import { createHash, timingSafeEqual } from "node:crypto";

const digest = (value: string): Buffer => createHash("sha256").update(value, "utf8").digest();

/**
 * Builds a check of `Authorization: Bearer <token>` headers that takes the same time whatever the
 * guess: both sides are hashed first, so neither the content nor the length of the token leaks.
 *
 * @example
 * const allowed = bearerCheck("s3cret");
 * if (!allowed(req.headers.authorization)) return sendError(res, unauthorized);
 */
export function bearerCheck(token: string): (authorization: string | undefined) => boolean {
  const expected = digest(token);
  return (authorization) => {
    const match = /^Bearer +(\S+) *$/i.exec(authorization ?? "");
    // Hash something even when the header is missing, so that case takes the same time too.
    const given = digest(match?.[1] ?? "");
    return timingSafeEqual(given, expected) && match !== null;
  };
}
