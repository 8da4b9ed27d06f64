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
    // passed alone and timed out at the default 5 s beside the Python suite's processes; the
    // longest form tests take 15-20 s with both workers busy and other work on the machine);
    // a timeout is not what these tests check, and no test sets a shorter one of its own.
    testTimeout: 60_000,
    // Vitest runs max(1, cores - 1) workers by default: one on the 2-core CI machine, where the
    // suite runs alone (make test's lint is done, pytest not started), leaving a core idle.
    maxWorkers: '100%',
    // Each file in a fresh module graph re-imported antd, React and jsdom's helpers: about half
    // of the run's CPU time. Files share a worker's modules instead; what one file could leave
    // behind for the next (stubbed globals, fake timers, the language, fetch) is reset after
    // every test in src/test/setup.ts.
    isolate: false,
  },
});
