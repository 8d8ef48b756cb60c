// Builds the browser UI into ../static/ui/, where Django serves it (no CDN, no
// Node on the production machine). Each page mounts one entry; the manifest
// tells Django's {% ui_entry %} tag which hashed files to load.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [react()],
  base: "/static/ui/",
  build: {
    outDir: "../static/ui",
    emptyOutDir: true,
    // Not under .vite/: collectstatic skips hidden directories.
    manifest: "manifest.json",
    sourcemap: false,
    rollupOptions: {
      input: {
        editor: "src/editor/main.tsx",
        run: "src/run/main.tsx",
        runs: "src/runs/main.ts",
      },
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
  },
});
