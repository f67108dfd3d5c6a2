// Drives the status page in headless Debian chromium (playwright-core). Usage:
//   node status-page.check.js <agent base url> <screenshot path> <test-tools dir>
// Prints one line per check; exits non-zero on the first failure.
const [base, screenshot, tools] = process.argv.slice(2);
const { chromium } = require(require('node:path').join(tools, 'node_modules', 'playwright-core'));

const launch = {
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
};

function check(condition, what) {
  if (!condition) throw new Error('FAILED: ' + what);
  console.log('ok: ' + what);
}

(async () => {
  const browser = await chromium.launch(launch);
  try {
    // A phone-sized window: a technician standing at the container.
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', e => errors.push(e.message));
    page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });

    const response = await page.goto(base + '/');
    const csp = response.headers()['content-security-policy'] || '';
    check(csp.includes("script-src 'self'") && !csp.includes('unsafe-inline'), 'strict Content-Security-Policy without unsafe-inline');
    const html = await response.text();
    check(!/\son[a-z]+\s*=/i.test(html) && !/<script>[^<]/.test(html), 'no inline event handlers or inline scripts');

    await page.waitForFunction(() => [...document.querySelectorAll('.session')].some(s =>
      s.querySelectorAll('.side img.thumb').length === 2 && [...s.querySelectorAll('img.thumb')].every(i => i.complete && i.naturalWidth > 0)),
      null, { timeout: 30000 });
    check(true, 'a door cycle shows both thumbnails, loaded');
    const link = await page.$eval('.session .side.before a', a => a.getAttribute('href'));
    check(link.startsWith('/api/v1/evidence/image?key=') && !link.includes('size=thumb'), 'a thumbnail links to the full image through the image proxy');
    const full = await page.request.get(base + link);
    check(full.status() === 200 && full.headers()['content-type'] === 'image/jpeg', 'the full image opens');

    // The host's clock decides which way this goes; the page must agree with the API either way.
    const clock = (await (await page.request.get(base + '/api/v1/status')).json()).data.clock;
    const unsyncNotes = await page.$$eval('.session .side .reason', rs => rs.filter(r => r.textContent === 'clock not synchronised').length);
    check(clock.synchronized ? unsyncNotes === 0 : unsyncNotes >= 2,
      'captures say "clock not synchronised" exactly when the clock is not (' + (clock.synchronized ? 'synchronised' : 'not synchronised') + ' here)');

    await page.waitForFunction(() => [...document.querySelectorAll('.reason')].some(r => r.textContent.includes('sensor gave no frame (HTTP 500)')),
      null, { timeout: 30000 });
    check(true, 'a failed capture shows its reason in words');
    check(await page.$$eval('.side', sides => sides.every(s => !s.querySelector('img') || s.querySelector('img').naturalWidth > 0)), 'no broken image');
    await page.waitForFunction(() => document.querySelector('.card .bad') !== null, null, { timeout: 30000 });
    check(true, 'an offline camera shows as a red state');

    await page.click('button.capture[data-container="ctr-ok"]');
    await page.waitForFunction(() => [...document.querySelectorAll('.result')].some(r => /^Captured \d+ bytes \(\d+×\d+\)$/.test(r.textContent)),
      null, { timeout: 30000 });
    check(true, 'the test-capture button takes a MANUAL capture and shows the result');
    await page.screenshot({ path: screenshot, fullPage: true });
    check(errors.length === 0, 'no script errors (' + errors.join('; ') + ')');

    // A long session (frames, test captures) has AFTER_CLOSE past its first page: the page asks for the pair by tag.
    const long = await context.newPage();
    let byTag = 0;
    await long.route(/\/api\/v1\/sessions\/[^/]+\/evidence\?/, async route => {
      if (new URL(route.request().url()).searchParams.has('capture_tag')) {
        byTag++;
        return route.continue();
      }
      const real = await route.fetch();
      const body = await real.json();
      body.data.captures = body.data.captures.filter(c => c.capture_tag !== 'AFTER_CLOSE');
      body.data.has_more = true;
      body.data.next_cursor = 'later';
      await route.fulfill({ response: real, json: body });
    });
    await long.goto(base + '/');
    await long.waitForFunction(() => [...document.querySelectorAll('.session')].some(s =>
      s.querySelectorAll('.side img.thumb').length === 2 && [...s.querySelectorAll('img.thumb')].every(i => i.complete && i.naturalWidth > 0)),
      null, { timeout: 30000 });
    check(byTag > 0, 'a session whose first page lacks AFTER_CLOSE still shows both thumbnails, its pair read by capture_tag');
    await long.close();

    // Every API value is text: a hostile container id from the API cannot become markup.
    const hostile = await context.newPage();
    await hostile.route('**/api/v1/status', async route => {
      const real = await route.fetch();
      const body = await real.json();
      body.data.containers[0].id = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';
      body.data.containers[0].camera.last_error = '<b>bold</b>';
      await route.fulfill({ response: real, json: body });
    });
    await hostile.goto(base + '/');
    await hostile.waitForFunction(() => document.querySelector('.card h3') && document.querySelector('.card h3').textContent.includes('<script>'),
      null, { timeout: 15000 });
    check(await hostile.evaluate(() => window.__pwned === undefined), 'an injected <script> / onerror in a container id does not run');
    check(await hostile.evaluate(() => document.querySelectorAll('.card h3 img, .card h3 script, .card b').length === 0), 'it is shown as text');
  } finally {
    await browser.close();
  }
})().catch(e => {
  console.error(e.message);
  process.exit(1);
});
