// A registry stub on 127.0.0.1 speaking just enough of the registry v2 API
// to serve one image whose layer travels every time: for pulls that fail
// inside the stream, or stall with the connection left open.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';

export interface FakeRegistry {
  port: number;
  requests: Array<{ method: string; url: string; authorization?: string }>;
  close(): Promise<void>;
}

export async function listen(handler: http.RequestListener): Promise<http.Server> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

export function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

export const sha256 = (data: Buffer | string) =>
  `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** A one-file tar archive (ustar), as a layer's uncompressed content. */
function tarWithFile(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string) =>
    header.write(value.padEnd(length, '\0').slice(0, length), offset, 'latin1');
  field(0, 100, name);
  field(100, 8, '0000644');
  field(108, 8, '0000000');
  field(116, 8, '0000000');
  field(124, 12, content.length.toString(8).padStart(11, '0'));
  field(136, 12, '00000000000');
  field(156, 1, '0');
  field(257, 6, 'ustar');
  field(263, 2, '00');
  header.fill(' ', 148, 156); // the checksum counts its own field as spaces
  let sum = 0;
  for (const byte of header) sum += byte;
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding, Buffer.alloc(1024)]);
}

/**
 * A registry serving one image (any name, any tag) with one fresh layer,
 * never seen by the engine, so its bytes always travel. With `corruptLayer`
 * the layer's bytes do not match its digest: the engine has answered 200 and
 * streamed progress by the time the layer fails, so the failure only shows
 * inside the stream. With `stallLayer` the layer's headers and first bytes
 * are sent, then nothing, with the connection left open.
 */
export async function startFakeRegistry(options: {
  corruptLayer?: boolean;
  stallLayer?: boolean;
  /** Size of the layer's file, default 3000 bytes. A layer of a few reads (megabytes) always shows download progress. */
  layerBytes?: number;
}): Promise<FakeRegistry & { layerSize: number }> {
  const tar = tarWithFile('ge-test.txt', randomBytes(options.layerBytes ?? 3000));
  const layer = gzipSync(tar);
  const layerDigest = sha256(layer);
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/ge-test.txt'] },
    rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
  });
  const configDigest = sha256(config);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: {
      mediaType: 'application/vnd.docker.container.image.v1+json',
      size: Buffer.byteLength(config),
      digest: configDigest,
    },
    layers: [
      {
        mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
        size: layer.length,
        digest: layerDigest,
      },
    ],
  });
  const requests: FakeRegistry['requests'] = [];
  const server = await listen((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '' });
    const send = (status: number, body: string | Buffer, type: string, digest?: string) => {
      res.writeHead(status, {
        'Content-Type': type,
        'Content-Length': Buffer.byteLength(body),
        'Docker-Distribution-API-Version': 'registry/2.0',
        ...(digest ? { 'Docker-Content-Digest': digest } : {}),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const url = req.url ?? '';
    if (url === '/v2/') return send(200, '{}', 'application/json');
    if (/\/manifests\//.test(url)) {
      return send(
        200,
        manifest,
        'application/vnd.docker.distribution.manifest.v2+json',
        sha256(manifest),
      );
    }
    if (url.endsWith(`/blobs/${configDigest}`)) {
      return send(200, config, 'application/octet-stream', configDigest);
    }
    if (url.endsWith(`/blobs/${layerDigest}`)) {
      if (options.stallLayer) {
        res.writeHead(200, {
          'Content-Type': 'application/octet-stream',
          'Content-Length': layer.length,
          'Docker-Distribution-API-Version': 'registry/2.0',
        });
        res.write(layer.subarray(0, 64));
        return; // and never another byte
      }
      // Same length, other bytes: the digest check fails after the download.
      const body = options.corruptLayer ? randomBytes(layer.length) : layer;
      return send(200, body, 'application/octet-stream');
    }
    send(404, '{"errors":[{"code":"NOT_FOUND"}]}', 'application/json');
  });
  const port = (server.address() as AddressInfo).port;
  return { port, requests, layerSize: layer.length, close: () => closeServer(server) };
}
