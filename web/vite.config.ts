/// <reference types="vitest/config" />
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The API (vpbx run) serves the built files at / and itself at /api/v1; `npm run dev` proxies
// /api to it so the dev server behaves the same.
export default defineConfig({
  plugins: [react()],
  server: {
    proxy: { '/api': 'http://127.0.0.1:8080' },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1500,
  },
  test: {
    environment: 'jsdom',
    globals: true,
    setupFiles: ['./src/test/setup.ts'],
    css: false,
    // Typing into antd forms under jsdom takes seconds on a busy 2-core CI machine (7 tests
    // passed alone and timed out at the default 5 s beside the Python suite's processes);
    // a timeout is not what these tests check.
    testTimeout: 30_000,
  },
});
