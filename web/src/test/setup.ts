import '@testing-library/jest-dom/vitest';
import { cleanup, configure } from '@testing-library/react';
import { afterEach, vi } from 'vitest';
import i18n from '../i18n';

// findBy*/waitFor wait up to 1 s by default: on a loaded CI machine an antd form re-render can
// take longer. A wait that never comes true still fails, only later.
configure({ asyncUtilTimeout: 10_000 });

// The test files share their worker's modules and window (vite.config.ts: isolate false), so
// every test ends with what a fresh page has: no stubs or spies, real timers, jsdom's own fetch,
// an empty localStorage and the cabinet in Russian.
const pageFetch = globalThis.fetch;

afterEach(async () => {
  cleanup();
  vi.useRealTimers();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  globalThis.fetch = pageFetch;
  localStorage.clear();
  if (i18n.language !== 'ru') await i18n.changeLanguage('ru');
  document.documentElement.lang = 'ru';
});

// antd reads these browser APIs that jsdom lacks.
Object.defineProperty(window, 'matchMedia', {
  writable: true,
  value: (query: string) => ({
    matches: false,
    media: query,
    onchange: null,
    addListener: () => undefined,
    removeListener: () => undefined,
    addEventListener: () => undefined,
    removeEventListener: () => undefined,
    dispatchEvent: () => false,
  }),
});
window.getComputedStyle = ((original) => (element: Element) => original(element))(window.getComputedStyle.bind(window));
