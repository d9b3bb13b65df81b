/**
 * `bsa-tnp serve` flag handling through the real command line: usage errors exit 2 with the flag
 * named, a port already taken exits 1 saying so.
 */
import * as net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { removeTempDirs, runCli } from '../cli-predict/fixtures.js';
import { makeModel } from './helpers.js';

afterAll(removeTempDirs);

describe('serve flags', () => {
  it('usage errors name the flag; a taken port is a clear runtime error', async () => {
    const { model } = await makeModel('serve-cli');
    const [a, b, c] = await Promise.all([
      runCli(['serve', '--model', model, '--max-body', 'lots']),
      runCli(['serve', '--model', model, '--port', '70000']),
      runCli(['serve', '--model', model, '--precision', 'f16']),
    ]);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain("bsa-tnp serve: --max-body must be a size such as 10mb, 512kb or 100000 (bytes), got 'lots'");
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('bsa-tnp serve: --port must be 0..65535 (0 picks a free port), got 70000');
    expect(c.code).toBe(2);
    expect(c.stderr).toContain('bsa-tnp serve: --precision f16 needs --backend webgpu');

    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const d = await runCli(['serve', '--model', model, '--port', String(port)]);
      expect(d.code).toBe(1);
      expect(d.stderr).toBe(`bsa-tnp serve: cannot listen on 127.0.0.1:${port} (EADDRINUSE: the port is in use; pick another with --port)\n`);
    } finally {
      taken.close();
    }
  });
});
