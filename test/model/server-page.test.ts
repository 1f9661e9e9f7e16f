// The server's page in a real browser (Debian's chromium through playwright-core): a needle question
// asked in the chat with a prefill is answered as it streams, the denoising view shows every answer
// position, the heatmap has one row per layer, and the page's strict CSP raises no console error.
// Skipped, saying so, where chromium is not installed (.ci/run installs it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';
import { loadModel } from '../../src/index.js';
import { buildServer } from '../../src/server/app.js';
import { BUNDLED_MODEL } from '../helpers.js';
import { needleSample } from '../needle.js';

const CHROMIUM = process.env.WAVEFILTER_CHROMIUM ?? '/usr/bin/chromium';

test('the page: streaming chat, the denoising view and the kept-rows heatmap in headless Chromium', { skip: existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM} (apt-get install chromium, or set WAVEFILTER_CHROMIUM)` }, async () => {
  const model = await loadModel(BUNDLED_MODEL);
  const s = needleSample(model, 13);
  const app = await buildServer(model, { modelName: 'bundled' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(url);
    await page.waitForFunction(() => document.getElementById('model')?.textContent === 'bundled');
    await page.fill('#prompt', s.input);
    await page.fill('#prefill', s.answerPrefix);
    await page.selectOption('#filter', 'wavefilter');
    await page.fill('#max', '32');
    await page.click('#send');
    await page.waitForSelector('.msg.assistant[data-done="1"]', { timeout: 120_000 });
    const answer = (await page.textContent('.msg.assistant')) ?? '';
    assert.ok(s.outputs.every((o) => answer.includes(o)), `${answer} vs ${s.outputs.join(',')}`);
    assert.equal(await page.getAttribute('.msg.assistant', 'data-finish'), 'stop');
    assert.equal(await page.locator('#canvas .cell').count(), 32);
    assert.ok(Number(await page.getAttribute('#canvas', 'data-steps')) > 0);
    assert.equal(await page.getAttribute('#heat', 'data-layers'), String(model.spec.nLayers));
    // the heatmap is drawn: some pixels are not blank
    const inked = await page.evaluate(() => {
      const c = document.getElementById('heat') as HTMLCanvasElement;
      const d = (c.getContext('2d') as CanvasRenderingContext2D).getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if ((d[i] as number) > 0) n++;
      return n;
    });
    assert.ok(inked > 100, `${inked} pixels drawn`);
    assert.deepEqual(problems, []);
    if (process.env.WAVEFILTER_SCREENSHOT) await page.screenshot({ path: process.env.WAVEFILTER_SCREENSHOT, fullPage: true });
  } finally {
    await browser.close();
    await app.close();
    await model.dispose();
  }
});
