/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// `npm run dev` proxies the API to a `sematic start` server (SEMATIC_DEV_API, default :5001).
const api = process.env.SEMATIC_DEV_API ?? 'http://127.0.0.1:5001';

export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', sourcemap: true, chunkSizeWarningLimit: 1024 },
  server: { host: '127.0.0.1', proxy: { '/api': api, '/authenticate': api } },
  test: {
    environment: 'jsdom',
    globals: true,
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test/setup.ts'],
  },
});
