// Maestro web view: times in the reader's zone.
// The server writes every moment as <time datetime="2026-01-01T03:00:00Z">2026-01-01 03:00:00
// UTC</time> (right without JavaScript). This shows it in the browser's zone with the UTC time
// in its title, or in UTC with the local time in its title: the header's "Times in UTC" toggle
// (#time-zone, aria-pressed) chooses, and the choice is kept in localStorage. The auto-refresh
// morphs the page (idiomorph), which puts the server's UTC text back: a MutationObserver
// converts again after each morph (it only writes what differs, so it settles at once).
"use strict";

(function () {
  const KEY = "maestro.times";
  const pad = (n) => String(n).padStart(2, "0");

  function inUtc() {
    try {
      return window.localStorage.getItem(KEY) === "utc";
    } catch (e) {
      return false; // storage refused (privacy settings): local times
    }
  }

  function remember(utc) {
    try {
      window.localStorage.setItem(KEY, utc ? "utc" : "local");
    } catch (e) {
      // not kept beyond this page
    }
  }

  let zoneFormat = null;

  function zone(date) {
    try {
      zoneFormat = zoneFormat || new Intl.DateTimeFormat(undefined, { timeZoneName: "short" });
      const parts = zoneFormat.formatToParts(date);
      const found = parts.find((p) => p.type === "timeZoneName");
      return found ? found.value : "";
    } catch (e) {
      return "";
    }
  }

  function zoneId() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || "your zone";
    } catch (e) {
      return "your zone";
    }
  }

  function utcText(d) {
    return (
      `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
      `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`
    );
  }

  function localText(d) {
    return (
      `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${zone(d)}`
    ).trim();
  }

  function convert() {
    const utc = inUtc();
    document.querySelectorAll("time[datetime]").forEach((el) => {
      const date = new Date(el.getAttribute("datetime"));
      if (Number.isNaN(date.getTime())) return;
      const text = utc ? utcText(date) : localText(date);
      const title = utc ? localText(date) : utcText(date);
      if (el.textContent !== text) el.textContent = text;
      if (el.getAttribute("title") !== title) el.setAttribute("title", title);
    });
    const toggle = document.getElementById("time-zone");
    if (toggle) {
      toggle.hidden = false;
      toggle.setAttribute("aria-pressed", String(utc));
      toggle.title = utc
        ? `Times are in UTC: press to show them in ${zoneId()}`
        : `Times are in ${zoneId()}: press to show them in UTC`;
    }
  }

  document.addEventListener("click", (event) => {
    const toggle = event.target.closest && event.target.closest("#time-zone");
    if (!toggle) return;
    remember(!inUtc());
    convert();
  });

  document.addEventListener("DOMContentLoaded", () => {
    convert();
    const main = document.getElementById("main");
    if (main && window.MutationObserver) {
      new MutationObserver(convert).observe(main, {
        subtree: true,
        childList: true,
        characterData: true,
        attributes: true,
        attributeFilter: ["title", "datetime"],
      });
    }
  });
})();
