/*
 * modes.js: the readability buttons of _modes_controls.html.  Each
 * <button> carries data-set-theme, data-set-font-size or
 * data-set-line-spacing and aria-pressed; a click stores the choice in
 * localStorage and sets the attribute on <html> at once.  The controls are
 * shown only here, so without JavaScript they stay hidden.  Needs
 * modes-early.js (window.FazhiModes) to have run first.
 */
(function () {
	"use strict";
	var fm = window.FazhiModes;
	if (!fm || !document.querySelector)
		return;
	var root = document.documentElement;
	/* data-set-* attribute of a button → entry of fm.modes */
	var setters = {
		"data-set-theme": fm.modes.theme,
		"data-set-font-size": fm.modes.fontSize,
		"data-set-line-spacing": fm.modes.lineSpacing
	};

	function sync() {
		var attr, m, i, b, list;
		for (attr in setters) {
			m = setters[attr];
			list = document.querySelectorAll("button[" + attr + "]");
			for (i = 0; i < list.length; i++) {
				b = list[i];
				b.setAttribute("aria-pressed",
				    b.getAttribute(attr) === root.getAttribute(m.attr) ?
				    "true" : "false");
			}
		}
	}

	function choose(m, value) {
		if (m.values.indexOf(value) < 0)
			return;
		root.setAttribute(m.attr, value);
		try {
			window.localStorage.setItem(m.key, value);
		} catch (e) {
			/* Not stored (storage off or full): it still applies here. */
		}
		sync();
	}

	function refresh() {
		fm.apply();
		sync();
	}

	document.addEventListener("click", function (ev) {
		var b = ev.target.closest ? ev.target.closest("button") : null;
		var attr;
		if (!b)
			return;
		for (attr in setters)
			if (b.hasAttribute(attr))
				choose(setters[attr], b.getAttribute(attr));
	});

	/* Another tab chose, the page came back from the back/forward cache,
	 * or the system setting changed while nothing is stored. */
	window.addEventListener("storage", refresh);
	window.addEventListener("pageshow", function (ev) {
		if (ev.persisted)
			refresh();
	});
	if (window.matchMedia) {
		["(prefers-contrast: more)", "(prefers-color-scheme: dark)"]
		    .forEach(function (q) {
			var mql = window.matchMedia(q);
			if (mql.addEventListener)
				mql.addEventListener("change", refresh);
		});
	}

	function init() {
		var list = document.querySelectorAll("[data-modes-controls]");
		var i;
		for (i = 0; i < list.length; i++)
			list[i].removeAttribute("hidden");
		sync();
	}
	if (document.readyState === "loading")
		document.addEventListener("DOMContentLoaded", init);
	else
		init();
})();
