// Vite: the React plugin, and in development a proxy of the API (and CDS Hooks) to a running `ichigen serve`.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const target = process.env.ICHIGEN_DEV_API ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      '/api': { target, changeOrigin: false },
      '/openapi.json': { target },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
  },
});
