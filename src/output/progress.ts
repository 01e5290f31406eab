import type { OutputStream } from '../commands/io.js';
import type { ProgressEvent } from '../reconcile/reconcile-host.js';

/**
 * Live progress for a terminal: one redrawn line per image being pulled
 * (layers and bytes), and a line per service as it starts. Only used on a
 * TTY; elsewhere the JSON logs carry the same events.
 */
export function createProgressRenderer(stream: OutputStream): (event: ProgressEvent) => void {
  let lastDraw = 0;
  let drawn = false;
  const clear = () => {
    if (drawn) stream.write('\r\u001b[2K');
    drawn = false;
  };
  return (event) => {
    switch (event.type) {
      case 'pull-progress': {
        const now = Date.now();
        if (now - lastDraw < 100) return;
        lastDraw = now;
        const p = event.progress;
        const width = 20;
        const fraction =
          p.bytesTotal > 0
            ? p.bytesDone / p.bytesTotal
            : p.layersTotal
              ? p.layersDone / p.layersTotal
              : 0;
        const filled = Math.round(Math.min(1, fraction) * width);
        clear();
        stream.write(
          `pulling ${p.ref} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.layersDone}/${p.layersTotal} layers, ${mb(p.bytesDone)}/${mb(p.bytesTotal)}`,
        );
        drawn = true;
        return;
      }
      case 'pull-done':
        clear();
        stream.write(
          event.error ? `pull failed: ${event.ref}: ${event.error}\n` : `pulled ${event.ref}\n`,
        );
        return;
      case 'action-start':
        if (event.action === 'in-sync') return;
        clear();
        stream.write(`${event.action} ${event.service}...\n`);
        return;
      case 'action-done':
        return;
    }
  };
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
