// The notifications tab, built into one script and one stylesheet under dist/, which
// Django's staticfiles serves as static/frontend/ (config/settings/base.py). Names carry
// no hash: collectstatic's manifest storage adds it in production.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [react()],
  base: "/static/frontend/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    cssCodeSplit: false,
    rollupOptions: {
      input: "src/main.tsx",
      output: {
        entryFileNames: "notifications.js",
        assetFileNames: "notifications[extname]",
      },
    },
  },
  test: {
    environment: "jsdom",
    include: ["tests/**/*.test.{ts,tsx}"],
    setupFiles: ["tests/support/setup.ts"],
  },
});
