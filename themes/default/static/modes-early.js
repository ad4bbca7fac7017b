/*
 * modes-early.js: puts the reader's stored mode on <html> before first
 * paint.  Loaded as a blocking <script src> in <head> (no inline script, so
 * a strict Content-Security-Policy holds).  With no stored colour it
 * follows the system (prefers-contrast, then prefers-color-scheme) without
 * storing anything, so a later change of the system setting is followed
 * too (modes.js listens).  Shares FazhiModes with modes.js.
 */
(function () {
	"use strict";
	var root = document.documentElement;
	var modes = {
		/* attribute on <html>, localStorage key, allowed values, default */
		theme: { attr: "data-theme", key: "fazhi-theme",
		    values: ["default", "eyecare", "dark", "contrast"] },
		fontSize: { attr: "data-font-size", key: "fazhi-font-size",
		    values: ["100", "125", "150", "175", "200"], fallback: "100" },
		lineSpacing: { attr: "data-line-spacing", key: "fazhi-line-spacing",
		    values: ["normal", "relaxed", "loose"], fallback: "normal" }
	};

	/* Storage may be missing or throw (private windows, file: URLs). */
	function load(m) {
		var v = null;
		try {
			v = window.localStorage.getItem(m.key);
		} catch (e) {
			v = null;
		}
		return m.values.indexOf(v) >= 0 ? v : null;
	}

	function system() {
		var mq = window.matchMedia;
		if (mq && mq("(prefers-contrast: more)").matches)
			return "contrast";
		if (mq && mq("(prefers-color-scheme: dark)").matches)
			return "dark";
		return "default";
	}

	function apply() {
		var name, m;
		for (name in modes) {
			m = modes[name];
			root.setAttribute(m.attr, load(m) ||
			    (m.fallback !== undefined ? m.fallback : system()));
		}
	}

	apply();
	window.FazhiModes = { modes: modes, load: load, system: system,
	    apply: apply };
})();
