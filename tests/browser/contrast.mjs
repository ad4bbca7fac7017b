// contrast.mjs: measures the WCAG 2.1 contrast ratios of every colour mode's
// palette, straight from the theme's CSS, so a colour is never chosen by eye.
//
//   node contrast.mjs [THEME_STATIC_DIR]           PASS/FAIL line per pair
//   node contrast.mjs --table [THEME_STATIC_DIR]   the table kept in modes.css
//
// The default palette is site.css's `:root`; each mode is modes.css's
// `:root[data-theme="NAME"]` on top of it.  The no-JavaScript copies under
// @media (prefers-color-scheme / prefers-contrast) must equal their mode.
// Exit status is non-zero if any pair falls short.

import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const MODES = ['default', 'eyecare', 'dark', 'contrast'];

// Text pairs need 4.5:1 (WCAG 1.4.3); focus rings, field borders and chart
// marks are non-text graphics and need 3:1 (1.4.11).
export const PAIRS = [
	['fg', 'bg', 4.5], ['muted', 'bg', 4.5], ['link', 'bg', 4.5],
	['link-visited', 'bg', 4.5], ['fg', 'surface', 4.5],
	['muted', 'surface', 4.5], ['link', 'surface', 4.5],
	['link-visited', 'surface', 4.5], ['fg', 'table-head-bg', 4.5],
	['link', 'table-head-bg', 4.5], ['fg', 'code-bg', 4.5],
	['accent-fg', 'accent', 4.5], ['chart-text', 'bg', 4.5],
	['chart-text', 'surface', 4.5],
	['border', 'bg', 3], ['focus', 'bg', 3], ['focus', 'surface', 3],
	['chart-1', 'bg', 3], ['chart-2', 'bg', 3], ['chart-3', 'bg', 3],
	['chart-4', 'bg', 3],
];

// Relative luminance of #rgb / #rrggbb, per WCAG 2.1.
export function luminance(hex) {
	let h = hex.replace('#', '');
	if (h.length === 3)
		h = h.split('').map((c) => c + c).join('');
	if (!/^[0-9a-fA-F]{6}$/.test(h))
		throw new Error(`not a colour: ${hex}`);
	const ch = [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16) / 255)
	    .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
	return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
}

export function ratio(a, b) {
	const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
	return (x + 0.05) / (y + 0.05);
}

// Rules as { media, selector, vars }, with the enclosing @media prelude
// (or '') so the no-JS copies can be told apart.  Only custom properties
// whose value is a hex colour are kept.
export function parseRules(css) {
	css = css.replace(/\/\*[\s\S]*?\*\//g, '');
	const rules = [];
	const stack = [];
	let start = 0;
	for (let i = 0; i < css.length; i++) {
		if (css[i] === '{') {
			stack.push(css.slice(start, i).trim());
			start = i + 1;
		} else if (css[i] === '}') {
			const body = css.slice(start, i);
			const prelude = stack.pop();
			if (prelude !== undefined && !prelude.startsWith('@')) {
				const media = stack.filter((p) => p.startsWith('@media')).join(' ');
				const vars = {};
				for (const m of body.matchAll(/--([\w-]+)\s*:\s*(#[0-9a-fA-F]{3,6})\s*(?:;|$)/g))
					vars[m[1]] = m[2].toLowerCase();
				rules.push({ media, selector: prelude.replace(/\s+/g, ' '), vars });
			}
			start = i + 1;
		}
	}
	return rules;
}

function pick(rules, test) {
	const out = {};
	for (const r of rules)
		if (test(r))
			Object.assign(out, r.vars);
	return out;
}

const sels = (r) => r.selector.split(',').map((s) => s.trim());

// The palette of each mode, as the browser would resolve it with
// JavaScript on (data-theme set) and, separately, the no-JS copies.
export function palettes(dir) {
	const site = parseRules(readFileSync(join(dir, 'site.css'), 'utf8'));
	const modes = parseRules(readFileSync(join(dir, 'modes.css'), 'utf8'));
	const base = {
		...pick(site, (r) => !r.media && sels(r).includes(':root')),
		...pick(modes, (r) => !r.media && sels(r).includes(':root')),
	};
	const out = {}, nojs = {};
	for (const m of MODES) {
		const own = pick(modes, (r) => !r.media &&
		    sels(r).includes(`:root[data-theme="${m}"]`));
		out[m] = { ...base, ...own };
	}
	for (const [m, q] of [['dark', 'prefers-color-scheme: dark'],
	    ['contrast', 'prefers-contrast: more']])
		nojs[m] = pick(modes, (r) => r.media.includes(q) &&
		    sels(r).includes(':root:not([data-theme])'));
	return { modes: out, nojs };
}

export function check(dir) {
	const { modes, nojs } = palettes(dir);
	const results = [];
	for (const m of MODES) {
		for (const [a, b, min] of PAIRS) {
			const name = `contrast ${m} --${a} on --${b}`;
			const p = modes[m];
			if (!p[a] || !p[b]) {
				results.push({ name, ok: false, why: `--${!p[a] ? a : b} is not a hex colour in this mode` });
				continue;
			}
			const r = ratio(p[a], p[b]);
			results.push({ name, ok: r >= min, ratio: r, min, a: p[a], b: p[b],
			    why: `${p[a]} on ${p[b]} is ${r.toFixed(2)}:1, needs ${min}:1` });
		}
	}
	for (const m of Object.keys(nojs)) {
		const own = pick(parseRules(readFileSync(join(dir, 'modes.css'), 'utf8')),
		    (r) => !r.media && sels(r).includes(`:root[data-theme="${m}"]`));
		const diff = Object.keys(own).filter((k) => own[k] !== nojs[m][k]);
		results.push({ name: `no-JS ${m} palette equals data-theme="${m}"`,
		    ok: Object.keys(own).length > 0 && diff.length === 0,
		    why: diff.length ? `differs in ${diff.map((k) => '--' + k).join(', ')}` : 'no palette found' });
	}
	return results;
}

function main() {
	const args = process.argv.slice(2);
	const table = args[0] === '--table';
	if (table)
		args.shift();
	const here = dirname(fileURLToPath(import.meta.url));
	const dir = args[0] || join(here, '..', '..', 'themes', 'default', 'static');
	const results = check(dir);
	if (table) {
		for (const m of MODES) {
			const row = results.filter((r) => r.name.startsWith(`contrast ${m} `) && r.ratio)
			    .map((r) => `${r.name.slice(`contrast ${m} `.length).replace(/--/g, '').replace(' on ', '/')} ${r.ratio.toFixed(2)}`);
			console.log(` * ${m}:`);
			for (let i = 0; i < row.length; i += 4)
				console.log(' *   ' + row.slice(i, i + 4).join(', '));
		}
	} else {
		for (const r of results)
			console.log(r.ok ? `PASS ${r.name}` : `FAIL ${r.name}: ${r.why}`);
	}
	process.exitCode = results.every((r) => r.ok) ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1])
	main();
