// run.mjs: the browser suite for a built site.  Prints one line per check,
// "PASS name", "FAIL name: why" or "SKIP name: why", and exits non-zero if
// any check failed.
//
//   node run.mjs --site DIR [--screenshots DIR] [--chromium PATH]
//
// What it checks, in a real headless Chromium driven by playwright-core:
// - html-validate (recommended rules) on every page of the site;
// - every page loads with no console error, page error or failed request;
// - on one page of every kind (home, all reports, category, department,
//   departments index, year, downloads, 404) and on the reports that hold elements the others
//   lack: each colour mode's button sets data-theme and aria-pressed, and
//   axe-core finds no WCAG 2.1 A/AA violation in that mode, at 100% on a
//   desktop and at 200% on a 360 px wide phone, where nothing may overflow
//   the page sideways; every other report in one mode, in turn;
// - every font-size and line-spacing button, the keyboard path to them,
//   the choice surviving a navigation and a later visit, and being on
//   <html> before <body> is parsed (so before first paint);
// - the SVG charts of filters taking each mode's colours;
// - storage refused, and a choice reaching another open tab;
// - with no stored choice the system's dark and more-contrast preferences;
//   with JavaScript off the controls hidden and the page readable in the
//   system's preference;
// - a screenshot of each mode into the screenshots directory.
//
// The site is served by a small HTTP server on 127.0.0.1, port 0.

import { createServer } from 'node:http';
import { readFileSync, readdirSync, statSync, mkdirSync, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, relative, extname, resolve, sep } from 'node:path';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { ratio } from './contrast.mjs';

const require = createRequire(import.meta.url);

const THEMES = ['default', 'eyecare', 'dark', 'contrast'];
const SIZES = ['100', '125', '150', '175', '200'];
const SPACINGS = ['normal', 'relaxed', 'loose'];
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 360, height: 800 };
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu',
	'--disable-quic', '--no-first-run', '--disable-background-networking',
	'--disable-component-update', '--disable-sync'];

// ---- results ----

let npass = 0, nfail = 0;
function pass(name) {
	npass++;
	console.log(`PASS ${name}`);
}
function fail(name, why) {
	nfail++;
	console.log(`FAIL ${name}: ${String(why).replace(/\s*\n\s*/g, ' | ')}`);
}
function skip(name, why) {
	console.log(`SKIP ${name}: ${why}`);
}
function verdict(name, why) {
	if (why)
		fail(name, why);
	else
		pass(name);
}
// Runs one check; an exception is its failure, not the suite's end.
// A check that hangs fails after CHECK_MS instead of stalling the suite.
const CHECK_MS = 90000;
async function check(name, fn) {
	let timer;
	const t0 = Date.now();
	try {
		verdict(name, await Promise.race([fn(), new Promise((ok, no) => {
			timer = setTimeout(() => no(new Error(`no answer in ${CHECK_MS / 1000} s`)), CHECK_MS);
		})]));
	} catch (e) {
		fail(name, e && e.message ? e.message.split('\n')[0] : e);
	} finally {
		clearTimeout(timer);
		if (process.env.BROWSER_TIMING)
			console.error(`  ${Date.now() - t0} ms ${name}`);
	}
}

// ---- the site ----

function walk(dir, out = []) {
	for (const e of readdirSync(dir, { withFileTypes: true })) {
		const p = join(dir, e.name);
		if (e.isDirectory())
			walk(p, out);
		else if (e.name.endsWith('.html'))
			out.push(p);
	}
	return out;
}

// A page's kind from where the generator writes it.
function kindOf(rel) {
	const special = { 'index.html': 'home', 'reports.html': 'all',
	    '404.html': '404', 'downloads.html': 'downloads' };
	if (special[rel])
		return special[rel];
	const top = rel.split('/')[0];
	return ['category', 'department', 'departments', 'year', 'report'].includes(top) &&
	    rel.includes('/') ? top : 'other';
}

function urlOf(rel) {
	return '/' + rel.split('/').map(encodeURIComponent).join('/');
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8',
	'.js': 'text/javascript; charset=utf-8', '.xml': 'application/xml; charset=utf-8',
	'.svg': 'image/svg+xml', '.png': 'image/png', '.jpg': 'image/jpeg',
	'.csv': 'text/csv; charset=utf-8', '.txt': 'text/plain; charset=utf-8',
	'.zip': 'application/zip', '.json': 'application/json', '.ico': 'image/x-icon' };

// Serves DIR on 127.0.0.1 at a free port; unknown paths get 404.html with
// status 404, as a web server configured for the site would.
function serve(dir) {
	const root = resolve(dir);
	const server = createServer(async (req, res) => {
		let path;
		try {
			path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
		} catch {
			path = null;
		}
		let file = path === null ? null : resolve(root, '.' + path);
		if (file && !(file === root || file.startsWith(root + sep)))
			file = null;
		if (file && existsSync(file) && statSync(file).isDirectory())
			file = join(file, 'index.html');
		let status = 200;
		if (!file || !existsSync(file)) {
			status = 404;
			file = join(root, '404.html');
		}
		try {
			const body = await readFile(file);
			res.writeHead(status, { 'content-type': TYPES[extname(file)] ||
			    'application/octet-stream', 'cache-control': 'no-store' });
			res.end(body);
		} catch {
			res.writeHead(500);
			res.end();
		}
	});
	return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

// ---- html-validate ----

async function validateAll(site, pages) {
	const { HtmlValidate } = await import('html-validate');
	const hv = new HtmlValidate({
		extends: ['html-validate:recommended'],
		rules: {
			// cmark-gfm writes table alignment as style="text-align"
			// (the obsolete align= attribute is worse).
			'no-inline-style': ['error', { allowedProperties: ['display', 'text-align'] }],
			// Heading ids come from Chinese headings and may start
			// with a digit ("1-案件办理"): valid in HTML5.
			'valid-id': ['error', { relaxed: true }],
		},
	});
	for (const p of pages) {
		const report = await hv.validateString(readFileSync(p.file, 'utf8'), p.rel);
		const msgs = report.results.flatMap((r) => r.messages)
		    .filter((m) => m.severity === 2);
		verdict(`html-validate ${p.name}`, msgs.length === 0 ? null :
		    `${msgs.length} error(s): ` + msgs.slice(0, 3).map((m) =>
		    `${m.line}:${m.column} ${m.ruleId}: ${m.message}`).join('; '));
	}
}

// ---- browser helpers ----

// A page that records what would show in the console as a problem.
// Chromium asks for /favicon.ico once per context, on whichever page
// comes first: that has its own check (favicon) instead.
async function open(ctx) {
	const page = await ctx.newPage();
	page.setDefaultTimeout(15000);
	page.problems = [];
	const note = (msg, url) => {
		if (!/\/favicon\.ico$/.test(url || ''))
			page.problems.push(url ? `${msg} (${decodeURI(url)})` : msg);
	};
	page.on('console', (m) => {
		if (m.type() === 'error')
			note(`console: ${m.text()}`, m.location().url);
	});
	page.on('pageerror', (e) => note(`page error: ${e.message}`));
	// ERR_ABORTED: a late request (the icon) cut short when the check
	// moves on to the next page, not a fault of the page.
	page.on('requestfailed', (r) => {
		const why = r.failure() ? r.failure().errorText : '';
		if (why !== 'net::ERR_ABORTED')
			note(`request failed: ${why}`, r.url());
	});
	page.on('response', (r) => {
		if (r.status() >= 400 && r.request().resourceType() !== 'document')
			note(`HTTP ${r.status()}`, r.url());
	});
	return page;
}

async function go(page, base, p) {
	page.problems.length = 0;
	const res = await page.goto(base + p.url, { waitUntil: 'load' });
	if (!res || res.status() !== 200)
		throw new Error(`HTTP ${res ? res.status() : 'no response'} for ${p.url}`);
}

// Attributes of <html> and the pressed buttons, as the page sees them.
function state(page) {
	return page.evaluate(() => {
		const h = document.documentElement;
		const pressed = [...document.querySelectorAll('button[aria-pressed="true"]')]
		    .map((b) => [...b.attributes].filter((a) => a.name.startsWith('data-set-'))
		    .map((a) => `${a.name}=${a.value}`).join(' '));
		return { theme: h.getAttribute('data-theme'),
		    size: h.getAttribute('data-font-size'),
		    spacing: h.getAttribute('data-line-spacing'), pressed };
	});
}

// Wait until colour transitions, if the theme has any, are over, so axe
// and screenshots see the final colours.
async function settle(page) {
	await page.waitForFunction(() => document.getAnimations()
	    .every((a) => a.playState !== 'running'), null, { timeout: 5000 });
}

async function openControls(page) {
	const d = page.locator('details[data-modes-controls]');
	if (await d.count() !== 1)
		throw new Error(`expected one details[data-modes-controls], found ${await d.count()}`);
	if (!await d.evaluate((e) => e.open))
		await d.locator('summary').click();
}

// Clicks the button that sets ATTR to VALUE and checks that it took:
// the attribute on <html>, that button pressed and its siblings not.
async function choose(page, attr, value) {
	const b = page.locator(`button[data-set-${attr}="${value}"]`);
	await b.click();
	const s = await state(page);
	const got = { 'theme': s.theme, 'font-size': s.size, 'line-spacing': s.spacing }[attr];
	if (got !== value)
		return `data-${attr} is ${got} after clicking ${value}`;
	const mine = s.pressed.filter((x) => x.startsWith(`data-set-${attr}=`));
	if (mine.length !== 1 || mine[0] !== `data-set-${attr}=${value}`)
		return `aria-pressed="true" on [${mine.join(', ')}], expected only ${value}`;
	return null;
}

let axeSource = null;
async function axe(page) {
	if (!axeSource)
		axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
	await settle(page);
	if (!await page.evaluate(() => typeof window.axe === 'object'))
		await page.evaluate(axeSource);
	const res = await page.evaluate((tags) => window.axe.run(document, {
		runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'],
	}), AXE_TAGS);
	if (res.violations.length === 0)
		return null;
	return res.violations.map((v) => {
		const n = v.nodes[0];
		const d = n.any.concat(n.all, n.none).map((c) => c.data)
		    .find((x) => x && x.contrastRatio);
		const extra = d ? ` ${d.fgColor} on ${d.bgColor} ${d.contrastRatio}:1` : '';
		return `${v.id} ×${v.nodes.length} at ${n.target.join(' ')}${extra}`;
	}).join('; ');
}

// Whether anything sticks out of the viewport sideways, naming the
// outermost culprits (content inside a scrolling box does not count).
function overflow(page) {
	return page.evaluate(() => {
		const w = document.documentElement.clientWidth;
		const sw = document.documentElement.scrollWidth;
		if (sw <= w)
			return null;
		const clipped = (el) => {
			for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
				const o = getComputedStyle(a).overflowX;
				if (o !== 'visible' && o !== 'clip')
					return true;
			}
			return false;
		};
		const desc = (el) => el.tagName.toLowerCase() +
		    (el.id ? '#' + el.id : '') +
		    (el.classList.length ? '.' + [...el.classList].join('.') : '');
		const out = [];
		for (const el of document.body.querySelectorAll('*')) {
			const r = el.getBoundingClientRect();
			if ((r.right > w + 1 || r.left < -1) && r.width > 0 && !clipped(el) &&
			    !out.some((o) => o.contains(el)))
				out.push(el);
		}
		const path = (el) => (el.parentElement && el.parentElement !== document.body ?
		    desc(el.parentElement) + ' > ' : '') + desc(el);
		return `page is ${sw}px wide in a ${w}px viewport; ` +
		    out.slice(0, 3).map(path).join(', ');
	});
}

// The colours a reader gets: body text on the page background.
function readability(page) {
	return page.evaluate(() => {
		const bgOf = (el) => {
			for (; el; el = el.parentElement) {
				const c = getComputedStyle(el).backgroundColor;
				if (c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent')
					return c;
			}
			return 'rgb(255, 255, 255)';
		};
		const main = document.querySelector('main') || document.body;
		const text = main.querySelector('p, li, td') || main;
		return { fg: getComputedStyle(text).color, bg: bgOf(text),
		    varBg: getComputedStyle(document.documentElement)
		    .getPropertyValue('--bg').trim() };
	});
}

// Charts drawn by filters: every bar and legend key, and every label,
// against the chart's background in the current mode.  Marks need 3:1
// (WCAG 1.4.11) at full opacity, text 4.5:1.
async function chartColours(page) {
	const c = await page.evaluate(() => {
		const svgs = [...document.querySelectorAll('svg.stats-chart, svg.chart')];
		if (!svgs.length)
			return null;
		const bgOf = (el) => {
			for (; el; el = el.parentElement) {
				const b = getComputedStyle(el).backgroundColor;
				if (b !== 'rgba(0, 0, 0, 0)' && b !== 'transparent')
					return b;
			}
			return 'rgb(255, 255, 255)';
		};
		return svgs.map((svg) => ({
			bg: bgOf(svg),
			marks: [...svg.querySelectorAll('rect, path, circle, polygon')].map((e) => ({
				what: e.getAttribute('class') || e.tagName, fill: getComputedStyle(e).fill,
				opacity: getComputedStyle(e).fillOpacity })),
			texts: [...svg.querySelectorAll('text')].map((e) => getComputedStyle(e).fill),
		}));
	});
	if (!c)
		return null;
	const bad = [];
	for (const svg of c) {
		const bg = hex(svg.bg);
		for (const m of svg.marks) {
			const f = hex(m.fill);
			const r = f ? ratio(f, bg) : 0;
			if (parseFloat(m.opacity) < 1 || r < 3)
				bad.push(`${m.what} ${m.fill} opacity ${m.opacity} on ${bg}: ${r.toFixed(2)}:1`);
		}
		for (const t of new Set(svg.texts)) {
			const f = hex(t);
			const r = f ? ratio(f, bg) : 0;
			if (r < 4.5)
				bad.push(`text ${t} on ${bg}: ${r.toFixed(2)}:1`);
		}
	}
	return bad.length ? [...new Set(bad)].slice(0, 3).join('; ') : null;
}

function hex(rgb) {
	const m = rgb.match(/\d+(\.\d+)?/g);
	if (!m || m.length < 3)
		return null;
	return '#' + m.slice(0, 3).map((x) => Math.round(+x).toString(16).padStart(2, '0')).join('');
}

// Records the <html> attributes at the moment <body> is inserted, to show
// the mode was applied before anything of the page could be painted.
const EARLY = `(() => {
	new MutationObserver((recs, obs) => {
		if (!document.body)
			return;
		const h = document.documentElement;
		window.__fazhiEarly = { theme: h.getAttribute('data-theme'),
		    size: h.getAttribute('data-font-size'),
		    spacing: h.getAttribute('data-line-spacing') };
		obs.disconnect();
	}).observe(document, { childList: true, subtree: true });
})();`;

// ---- the checks ----

// Every colour mode on each page, by clicking its button: the attribute,
// aria-pressed, axe at 100% on a desktop; then at 200% on a phone, axe
// again (p.phoneModes: in which modes; colour checks are the slow part of
// axe, so pages beyond the first of their kind take one mode each) and
// sideways overflow in every mode.  Two workers share the pages.
async function modeMatrix(browser, base, pages, shots) {
	const queue = pages.slice();
	const worker = async () => {
		const ctx = await browser.newContext({ viewport: DESKTOP, locale: 'zh-CN' });
		const page = await open(ctx);
		for (let p; (p = queue.shift());)
			await modePage(page, base, p, shots);
		await ctx.close();
	};
	await Promise.all([worker(), worker()]);
}

async function modePage(page, base, p, shots) {
	try {
		await page.setViewportSize(DESKTOP);
		await go(page, base, p);
		await openControls(page);
	} catch (e) {
		fail(`modes ${p.name}`, e.message.split('\n')[0]);
		return;
	}
	for (const theme of THEMES) {
		if (!p.allModes && !p.phoneModes.includes(theme))
			continue;
		await check(`mode ${p.name} ${theme}`, () => choose(page, 'theme', theme));
		if (p.allModes)
			await check(`axe ${p.name} ${theme}`, () => axe(page));
		if (p.chart)
			await check(`chart colours ${p.name} ${theme}`, () => chartColours(page));
		if (p.shot) {
			// The page itself, with the controls' panel closed.
			await page.locator('details[data-modes-controls] > summary').click();
			await shot(page, shots, `${p.shot}-${theme}`);
			await openControls(page);
		}
		await page.setViewportSize(PHONE);
		await check(`mode ${p.name} ${theme} 200%`, () => choose(page, 'font-size', '200'));
		if (p.phoneModes.includes(theme))
			await check(`axe ${p.name} ${theme} 200% 360px`, () => axe(page));
		await check(`overflow ${p.name} ${theme} 200% 360px`, () => overflow(page));
		if (p.shot === 'home')
			await shot(page, shots, `phone-200-${theme}`);
		await choose(page, 'font-size', '100');
		await page.setViewportSize(DESKTOP);
	}
	verdict(`console ${p.name} while switching modes`,
	    page.problems.length ? page.problems.slice(0, 3).join('; ') : null);
}

async function shot(page, dir, name) {
	if (!dir)
		return;
	await settle(page);
	await page.screenshot({ path: join(dir, `${name}.png`) });
}

// Browsers fetch /favicon.ico unless a page names its icon, and log the
// 404 as a console error.
async function favicon(base, home) {
	await check('favicon', async () => {
		const html = readFileSync(home.file, 'utf8');
		const link = html.match(/<link\b[^>]*\brel="(?:shortcut )?icon"[^>]*>/);
		let url = base + '/favicon.ico';
		if (link) {
			const href = link[0].match(/\bhref="([^"]*)"/);
			if (!href)
				return 'the icon <link> has no href';
			if (href[1].startsWith('data:'))
				return null;
			url = new URL(href[1], base + home.url).href;
		}
		const res = await fetch(url);
		return res.ok ? null : `${link ? 'the <link rel="icon">' : '/favicon.ico (no <link rel="icon"> in the page)'} gives HTTP ${res.status}`;
	});
}

async function loadAll(browser, base, pages) {
	const ctx = await browser.newContext({ viewport: DESKTOP });
	const page = await open(ctx);
	for (const p of pages)
		await check(`console ${p.name}`, async () => {
			await go(page, base, p);
			return page.problems.length ? page.problems.slice(0, 3).join('; ') : null;
		});
	await ctx.close();
}

// Every size and spacing button, and that they really change the text.
async function sizes(browser, base, home) {
	const ctx = await browser.newContext({ viewport: DESKTOP });
	const page = await open(ctx);
	await go(page, base, home);
	await check('defaults with nothing stored', async () => {
		const s = await state(page);
		if (s.theme !== 'default' || s.size !== '100' || s.spacing !== 'normal')
			return `data-theme=${s.theme} data-font-size=${s.size} data-line-spacing=${s.spacing}`;
		const want = ['data-set-theme=default', 'data-set-font-size=100',
		    'data-set-line-spacing=normal'];
		return want.every((w) => s.pressed.includes(w)) && s.pressed.length === 3 ?
		    null : `pressed: ${s.pressed.join(', ')}`;
	});
	await check('controls shown with JavaScript on', async () =>
	    await page.locator('details[data-modes-controls]').isVisible() ? null :
	    'details[data-modes-controls] is not visible');
	await check('controls are buttons labelled in Chinese', () => page.evaluate(() => {
		const all = [...document.querySelectorAll('[data-set-theme], [data-set-font-size], [data-set-line-spacing]')];
		const bad = all.filter((b) => b.tagName !== 'BUTTON' || b.type !== 'button' ||
		    !b.hasAttribute('aria-pressed'));
		if (all.length < 4 + 4 + 2 || bad.length)
			return `${all.length} controls, not proper buttons: ${bad.map((b) => b.outerHTML).join(' ')}`;
		const themes = all.filter((b) => b.dataset.setTheme).map((b) => b.textContent.trim());
		return /[\u4e00-\u9fff]/.test(themes.join('')) &&
		    themes.every((t) => /[\u4e00-\u9fff]/.test(t)) ? null :
		    `theme buttons read ${themes.join(', ')}`;
	}));
	await openControls(page);
	const base16 = await page.evaluate(() => parseFloat(getComputedStyle(document.documentElement).fontSize));
	for (const size of SIZES)
		await check(`font size ${size}%`, async () => {
			const why = await choose(page, 'font-size', size);
			if (why)
				return why;
			const px = await page.evaluate(() => parseFloat(getComputedStyle(document.documentElement).fontSize));
			return Math.abs(px - base16 * size / 100) < 0.5 ? null :
			    `root font is ${px}px, expected ${base16 * size / 100}px`;
		});
	await choose(page, 'font-size', '100');
	const lh = () => page.evaluate(() => {
		const p = document.querySelector('main p, main li') || document.body;
		return parseFloat(getComputedStyle(p).lineHeight) / parseFloat(getComputedStyle(p).fontSize);
	});
	let last = 0;
	for (const sp of SPACINGS)
		await check(`line spacing ${sp}`, async () => {
			const why = await choose(page, 'line-spacing', sp);
			if (why)
				return why;
			const r = await lh();
			const prev = last;
			last = r;
			return r > prev + 0.05 ? null :
			    `line height is ${r.toFixed(2)}× the font, not more than ${prev.toFixed(2)}×`;
		});
	await ctx.close();
}

async function keyboard(browser, base, home) {
	const ctx = await browser.newContext({ viewport: DESKTOP });
	const page = await open(ctx);
	await go(page, base, home);
	const tabTo = async (sel, max = 60) => {
		for (let i = 0; i < max; i++) {
			await page.keyboard.press('Tab');
			if (await page.evaluate((s) => document.activeElement &&
			    document.activeElement.matches(s), sel))
				return true;
		}
		throw new Error(`${sel} not reached with ${max} Tab presses`);
	};
	await check('keyboard opens the controls', async () => {
		await tabTo('details[data-modes-controls] > summary');
		await page.keyboard.press('Enter');
		return await page.evaluate(() => document.querySelector('details[data-modes-controls]').open) ?
		    null : 'Enter on the summary did not open it';
	});
	await check('keyboard Space chooses 夜间', async () => {
		await tabTo('button[data-set-theme="dark"]');
		const ring = await page.evaluate(() => {
			const s = getComputedStyle(document.activeElement);
			return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2;
		});
		if (!ring)
			return 'the focused button shows no focus outline';
		await page.keyboard.press(' ');
		return (await state(page)).theme === 'dark' ? null : 'data-theme did not become dark';
	});
	await check('keyboard Enter chooses 200%', async () => {
		await tabTo('button[data-set-font-size="200"]');
		await page.keyboard.press('Enter');
		return (await state(page)).size === '200' ? null : 'data-font-size did not become 200';
	});
	await ctx.close();
}

async function persistence(browser, base, home, other) {
	const ctx = await browser.newContext({ viewport: DESKTOP });
	await ctx.addInitScript(EARLY);
	const page = await open(ctx);
	await go(page, base, home);
	await openControls(page);
	for (const [a, v] of [['theme', 'eyecare'], ['font-size', '150'], ['line-spacing', 'relaxed']])
		await choose(page, a, v);
	const want = (s) => s && s.theme === 'eyecare' && s.size === '150' && s.spacing === 'relaxed' ?
	    null : `got ${JSON.stringify(s)}`;
	await check('choice kept across a navigation, before first paint', async () => {
		const link = page.locator(`a[href$="${other.url.split('/').pop()}"]`).first();
		if (await link.count())
			await Promise.all([page.waitForNavigation(), link.click()]);
		else
			await go(page, base, other);
		return want(await page.evaluate(() => window.__fazhiEarly));
	});
	await check('choice kept across a navigation, buttons pressed', async () => {
		const s = await state(page);
		return ['data-set-theme=eyecare', 'data-set-font-size=150',
		    'data-set-line-spacing=relaxed'].every((x) => s.pressed.includes(x)) ? null :
		    `pressed: ${s.pressed.join(', ')}`;
	});
	const stored = await ctx.storageState();
	await ctx.close();
	// A later visit: a new browser context with the same storage.
	const later = await browser.newContext({ viewport: DESKTOP, storageState: stored,
	    colorScheme: 'dark' });
	await later.addInitScript(EARLY);
	const p2 = await open(later);
	await check('choice kept for a later visit, over the system preference', async () => {
		await go(p2, base, other);
		return want(await p2.evaluate(() => window.__fazhiEarly));
	});
	await later.close();
}

// Storage refused (some private windows, strict settings): the page still
// works and the buttons still switch, for this page.  And a choice made in
// one tab reaches another open tab.
async function storage(browser, base, home) {
	const ctx = await browser.newContext({ viewport: DESKTOP });
	await ctx.addInitScript(() => {
		const no = () => { throw new DOMException('refused', 'SecurityError'); };
		Storage.prototype.getItem = no;
		Storage.prototype.setItem = no;
	});
	const page = await open(ctx);
	await check('storage refused: page works, buttons switch', async () => {
		await go(page, base, home);
		await openControls(page);
		const why = await choose(page, 'theme', 'dark');
		if (why)
			return why;
		return page.problems.length ? page.problems.join('; ') : null;
	});
	await ctx.close();

	const shared = await browser.newContext({ viewport: DESKTOP });
	const a = await open(shared), b = await open(shared);
	await check('choice in one tab reaches another tab', async () => {
		await go(a, base, home);
		await go(b, base, home);
		await openControls(a);
		await choose(a, 'theme', 'contrast');
		await choose(a, 'font-size', '175');
		await b.waitForFunction(() => document.documentElement.dataset.theme === 'contrast' &&
		    document.documentElement.dataset.fontSize === '175', null, { timeout: 5000 });
		const s = await state(b);
		return s.pressed.includes('data-set-theme=contrast') ? null :
		    `pressed in the other tab: ${s.pressed.join(', ')}`;
	});
	await shared.close();
}

async function system(browser, base, home, shots) {
	const cases = [
		['system dark preference followed', { colorScheme: 'dark' }, 'dark'],
		['system more-contrast preference followed', { contrast: 'more' }, 'contrast'],
		['system light preference gives 默认', { colorScheme: 'light' }, 'default'],
	];
	for (const [name, opts, theme] of cases) {
		const ctx = await browser.newContext({ viewport: DESKTOP, ...opts });
		await ctx.addInitScript(EARLY);
		const page = await open(ctx);
		await check(name, async () => {
			await go(page, base, home);
			const early = await page.evaluate(() => window.__fazhiEarly);
			const s = await state(page);
			if (!early || early.theme !== theme)
				return `data-theme before <body> was ${early && early.theme}`;
			return s.pressed.includes(`data-set-theme=${theme}`) ? null :
			    `pressed: ${s.pressed.join(', ')}`;
		});
		if (theme === 'default')
			await check('system switching to dark is followed while nothing is stored', async () => {
				await page.emulateMedia({ colorScheme: 'dark' });
				await page.waitForFunction(() =>
				    document.documentElement.dataset.theme === 'dark', null, { timeout: 5000 });
				const s = await state(page);
				return s.pressed.includes('data-set-theme=dark') ? null :
				    `pressed: ${s.pressed.join(', ')}`;
			});
		if (theme === 'dark')
			await check('explicit 默认 beats the system preference', async () => {
				await openControls(page);
				const why = await choose(page, 'theme', 'default');
				if (why)
					return why;
				await page.reload();
				return (await state(page)).theme === 'default' ? null :
				    'after a reload data-theme is not default';
			});
		await ctx.close();
	}
}

// JavaScript off: the page must follow the system preference through
// CSS alone, with the controls out of the way.  Chromium runs no script at
// all with JavaScript off, axe included, so axe runs in a twin context
// where the page's own scripts are refused instead.
async function noScript(browser, base, pages, shots, palettes) {
	const cases = [['light', { colorScheme: 'light' }, 'default'],
		['dark', { colorScheme: 'dark' }, 'dark'],
		['more contrast', { contrast: 'more' }, 'contrast']];
	for (const [label, opts, mode] of cases) {
		const off = await browser.newContext({ viewport: DESKTOP,
		    javaScriptEnabled: false, ...opts });
		const blocked = await browser.newContext({ viewport: DESKTOP, ...opts });
		await blocked.route(/\.js(\?.*)?$/, (r) => r.abort());
		const page = await open(off);
		const twin = await blocked.newPage();
		for (const p of pages) {
			const name = `no JavaScript, system ${label}: ${p.name}`;
			await check(`${name} readable`, async () => {
				await go(page, base, p);
				const s = await state(page);
				if (s.theme !== null)
					return `data-theme="${s.theme}" set without JavaScript`;
				const r = await readability(page);
				const want = palettes[mode] && palettes[mode].bg;
				if (want && r.varBg.toLowerCase() !== want)
					return `--bg is ${r.varBg}, expected ${want} (${mode})`;
				const fg = hex(r.fg), bg = hex(r.bg);
				const c = ratio(fg, bg);
				return c >= 4.5 ? null : `text ${fg} on ${bg} is ${c.toFixed(2)}:1`;
			});
			await check(`${name} controls hidden`, async () =>
			    await page.locator('[data-modes-controls]').isVisible() ?
			    'the mode controls are visible but cannot work' : null);
			if (p.kind === 'home')
				await shot(page, shots, `nojs-${mode}`);
			await check(`${name} axe`, async () => {
				await twin.goto(base + p.url, { waitUntil: 'load' });
				const t = await twin.evaluate(() => document.documentElement.getAttribute('data-theme'));
				if (t !== null)
					return `scripts ran anyway (data-theme="${t}")`;
				return axe(twin);
			});
		}
		await off.close();
		await blocked.close();
	}
}

// Report pages share one template and differ in what their Markdown
// holds.  Every mode is checked on FIRST and then on each report that
// brings an element (tag and classes) none of the chosen ones had; the
// others get one mode each, in turn.  Colour checks are axe's slow part.
function coverage(reports, first) {
	const sig = (p) => {
		const out = new Set();
		for (const m of readFileSync(p.file, 'utf8').matchAll(/<([a-z][a-z0-9]*)\b([^>]*)>/g)) {
			const c = m[2].match(/\bclass="([^"]*)"/);
			out.add(m[1] + (c ? '.' + c[1].trim().split(/\s+/).sort().join('.') : ''));
		}
		return out;
	};
	const seen = new Set();
	const chosen = [];
	for (const p of [first, ...reports.filter((r) => r !== first)]) {
		const s = sig(p);
		if ([...s].some((x) => !seen.has(x))) {
			chosen.push(p);
			s.forEach((x) => seen.add(x));
		}
	}
	return chosen;
}

// ---- main ----

async function main() {
	const { values } = parseArgs({ options: {
		site: { type: 'string' }, screenshots: { type: 'string' },
		chromium: { type: 'string', default: '/usr/bin/chromium' },
	} });
	if (!values.site || !existsSync(join(values.site, 'index.html'))) {
		fail('site', `no built site at ${values.site} (want --site DIR with index.html)`);
		return;
	}
	const all = walk(values.site).map((file) => {
		const rel = relative(values.site, file).split(sep).join('/');
		return { file, rel, kind: kindOf(rel), url: urlOf(rel),
		    name: rel.replace(/\.html$/, '') };
	}).sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
	const byKind = (k) => all.filter((p) => p.kind === k);
	for (const k of ['home', 'all', 'category', 'department', 'departments', 'year', 'report', '404'])
		verdict(`site has a ${k} page`, byKind(k).length ? null : 'none built');
	if (!byKind('downloads').length)
		skip('downloads page', 'the site has no downloads.html');

	await validateAll(values.site, all);

	const { palettes } = await import('./contrast.mjs');
	const pal = palettes(new URL('../../themes/default/static/', import.meta.url).pathname).modes;

	if (!existsSync(values.chromium)) {
		const why = `${values.chromium} is not installed; run tests/e2e/browser.sh as root ` +
		    'or apt-get install chromium fonts-noto-cjk';
		console.error(`\n*** BROWSER CHECKS SKIPPED: ${why} ***\n`);
		skip('browser checks', why);
		return;
	}
	const { chromium } = await import('playwright-core');
	const home = byKind('home')[0];
	// One page of every kind, every report (their bodies differ most),
	// and screenshots of home and of a report with a table.
	const withTable = byKind('report').find((p) => readFileSync(p.file, 'utf8').includes('<table')) ||
	    byKind('report')[0];
	const reps = [];
	for (const k of ['home', 'all', 'category', 'department', 'departments', 'year', 'downloads', '404'])
		if (byKind(k).length)
			reps.push({ ...byKind(k)[0], shot: k === 'home' ? 'home' : null,
			    phoneModes: THEMES, allModes: true });
	const full = coverage(byKind('report'), withTable);
	byKind('report').forEach((r, i) => reps.push({ ...r,
	    shot: r === withTable ? 'report' : null, allModes: full.includes(r),
	    chart: /<svg\b[^>]*class="(?:stats-)?chart"/.test(readFileSync(r.file, 'utf8')),
	    phoneModes: full.includes(r) ? THEMES : [THEMES[i % THEMES.length]] }));

	let shots = values.screenshots || null;
	if (shots)
		mkdirSync(shots, { recursive: true });

	const server = await serve(values.site);
	const base = `http://127.0.0.1:${server.address().port}`;
	const browser = await chromium.launch({ executablePath: values.chromium,
	    args: CHROMIUM_ARGS, headless: true });
	try {
		await favicon(base, home);
		await loadAll(browser, base, all);
		await sizes(browser, base, home);
		await keyboard(browser, base, home);
		await persistence(browser, base, home, withTable);
		await storage(browser, base, home);
		await system(browser, base, home, shots);
		await noScript(browser, base, [home, withTable], shots, pal);
		await modeMatrix(browser, base, reps, shots);
	} finally {
		await browser.close();
		server.close();
	}
}

main().catch((e) => {
	fail('browser suite', e && e.stack ? e.stack : e);
}).finally(() => {
	console.error(`browser suite: ${npass} passed, ${nfail} failed`);
	process.exitCode = nfail ? 1 : 0;
});
