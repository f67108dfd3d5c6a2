// Drives the status page's forms in headless Debian chromium (playwright-core) as a technician would. Usage:
//   node status-page-forms.check.js <agent base url> <admin key> <test-tools dir>
// The admin mints an invite through the API; the technician joins on the page with the link and the code, opens an
// inspection, ends it after a confirmation, and is refused where the invite does not reach. Prints one line per check
// (and "session: <id>" for the test to look up); exits non-zero on the first failure.
const [base, key, tools] = process.argv.slice(2);
const { chromium } = require(require('node:path').join(tools, 'node_modules', 'playwright-core'));

const launch = {
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
};
const TIMEOUT = { timeout: 30000 };

function check(condition, what) {
  if (!condition) throw new Error('FAILED: ' + what);
  console.log('ok: ' + what);
}

async function admin(page, method, path, data) {
  const response = await page.request.fetch(base + path, { method, headers: { Authorization: 'Bearer ' + key }, data });
  return { status: response.status(), body: await response.json() };
}

async function textOf(page, selector) {
  return (await page.textContent(selector)) || '';
}

(async () => {
  const browser = await chromium.launch(launch);
  try {
    const office = await (await browser.newContext()).newPage();
    const minted = await admin(office, 'POST', '/api/v1/invites', { name: 'Alex Garcia', containers: ['ctr-a'], ttl_minutes: 30 });
    check(minted.status === 201, 'the admin mints an invite for ctr-a');
    const invite = minted.body.data;

    // The technician's phone.
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', e => errors.push(e.message));
    await page.goto(invite.join_url);
    await page.waitForSelector('#join:not([hidden])', TIMEOUT);
    check(new URL(page.url()).pathname === '/', 'the join link opens the page, which takes the token out of the address at once');

    await page.fill('#join-code', invite.otp_code === '000000' ? '111111' : '000000');
    await page.click('#join-form button[type=submit]');
    await page.waitForFunction(() => document.getElementById('join-result').textContent.includes('attempt(s) left'), null, TIMEOUT);
    check(/4 attempt\(s\) left/.test(await textOf(page, '#join-result')), 'a wrong code is refused and says how many attempts are left');

    await page.fill('#join-code', invite.otp_code);
    await page.click('#join-form button[type=submit]');
    await page.waitForSelector('#signed-in:not([hidden])', TIMEOUT);
    check((await textOf(page, '#signed-in')).startsWith('Signed in as Alex Garcia for ctr-a'), 'the right code signs the technician in for ctr-a');
    check(await page.isHidden('#join'), 'the join form is gone');
    const cookies = await context.cookies();
    const credential = cookies.find(c => c.name === 'pio_tech');
    check(credential && credential.httpOnly && credential.sameSite === 'Strict', 'the credential is an HttpOnly, SameSite=Strict cookie');
    check(await page.evaluate(() => !document.cookie.includes('pio_tech')), 'the page\'s script cannot read it');

    // Open an inspection: the choice is only the invite's container; the name is filled in.
    await page.click('#inspection summary');
    await page.waitForFunction(() => document.querySelectorAll('#inspection-container option').length > 0, null, TIMEOUT);
    const choices = await page.$$eval('#inspection-container option', os => os.map(o => o.value));
    check(choices.length === 1 && choices[0] === 'ctr-a', 'only the invite\'s container can be chosen (' + choices.join(', ') + ')');
    check(await page.inputValue('#inspection-by') === 'Alex Garcia', 'the technician\'s name is filled in');
    await page.fill('#inspection-notes', 'Seal 4471 intact <b>not bold</b>');
    await page.click('#inspection-form button[type=submit]');
    await page.waitForFunction(() => /^Inspection session \S+ is open on ctr-a/.test(document.getElementById('inspection-result').textContent), null, TIMEOUT);
    const sessionId = /^Inspection session (\S+) is open/.exec(await textOf(page, '#inspection-result'))[1];
    console.log('session: ' + sessionId);
    check(true, 'the inspection form opens a session');
    const card = `.session[data-session="${sessionId}"]`;
    await page.waitForFunction(s => {
      const c = document.querySelector(s);
      const img = c && c.querySelector('.side.before img.thumb');
      return img && img.complete && img.naturalWidth > 0;
    }, card, TIMEOUT);
    check(true, 'its BEFORE_OPEN photo shows on the session card');
    const notes = await textOf(page, card + ' .notes');
    check(notes === 'Inspection by Alex Garcia: Seal 4471 intact <b>not bold</b>', 'the card shows who opened it and the notes, as text');
    check(await page.$$eval(card + ' .notes b', bs => bs.length === 0), 'markup in the notes stays text');

    // End it: a confirmation first, and Cancel leaves it open.
    await page.click(card + ' button.end');
    await page.waitForSelector('#end-dialog[open]', TIMEOUT);
    check((await textOf(page, '#end-what')).includes(sessionId), 'End session asks for a confirmation naming the session');
    await page.click('#end-cancel');
    await page.waitForFunction(() => !document.getElementById('end-dialog').open, null, TIMEOUT);
    const still = await admin(office, 'GET', '/api/v1/sessions/' + sessionId);
    check(still.body.data.status === 'in_progress', 'Cancel ends nothing');

    await page.click(card + ' button.end');
    await page.waitForSelector('#end-dialog[open]', TIMEOUT);
    await page.fill('#end-reason', 'door sensor stuck open');
    await page.click('#end-confirm');
    await page.waitForFunction(s => document.getElementById('session-result').textContent.startsWith('Ended session ' + s), sessionId, TIMEOUT);
    check((await textOf(page, '#session-result')) === 'Ended session ' + sessionId + ': pair complete', 'confirming ends it with both photos');
    await page.waitForFunction(s => {
      const c = document.querySelector(s);
      return c && !c.querySelector('button.end') && c.querySelectorAll('.side img.thumb').length === 2;
    }, card, TIMEOUT);
    check(await textOf(page, card + ' .notes:last-of-type') === 'Ended by Alex Garcia: door sensor stuck open', 'the card says who ended it and why');

    // Where the invite does not reach.
    await page.click('button.capture[data-container="ctr-b"]');
    await page.waitForFunction(() => [...document.querySelectorAll('.result')].some(r => r.textContent.startsWith('Your invite does not cover this')), null, TIMEOUT);
    check(true, 'a test capture on another container is refused in words');

    // The link works once.
    const other = await (await browser.newContext()).newPage();
    await other.goto(invite.join_url);
    await other.waitForSelector('#join:not([hidden])', TIMEOUT);
    await other.fill('#join-code', invite.otp_code);
    await other.click('#join-form button[type=submit]');
    await other.waitForFunction(() => document.getElementById('join-result').textContent.startsWith('Not joined:'), null, TIMEOUT);
    check((await textOf(other, '#join-result')).includes('joined already'), 'the same link and code a second time are refused');

    // Revoked: the page's next write is refused at once.
    check((await admin(office, 'DELETE', '/api/v1/invites/' + invite.id)).status === 200, 'the admin revokes the invite');
    await page.click('button.capture[data-container="ctr-a"]');
    await page.waitForFunction(() => [...document.querySelectorAll('.result')].some(r => r.textContent.startsWith('This needs the site')), null, TIMEOUT);
    check(true, 'after the revoke a test capture on ctr-a is refused, and the page asks for a key');
    check(await page.isHidden('#signed-in') && await page.evaluate(() => sessionStorage.length === 0), 'and no longer says who is signed in');
    check(errors.length === 0, 'no script errors (' + errors.join('; ') + ')');
  } finally {
    await browser.close();
  }
})().catch(e => {
  console.error(e.message);
  process.exit(1);
});
