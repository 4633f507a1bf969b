import { defineConfig } from "vite";

// Preact through Oxc's automatic JSX runtime (no Preact preset needed). `base: "/"` because the edge
// Worker serves `dist/` at the origin's root and the app uses hash routes, so any path loads it.
export default defineConfig({
  root: import.meta.dirname,
  base: "/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", sourcemap: true },
  server: { proxy: { "/api": { target: "http://127.0.0.1:8787", ws: true } } },
});
