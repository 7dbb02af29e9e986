// Maestro web view: pan and zoom the DAG, and light up a step's upstream and downstream.
// - The drawing (api/web/dag.py) puts its edges and nodes in <g class="dag-view">; zooming and
//   panning set that group's transform. Buttons [data-zoom=in|out|reset][data-dag=WRAP], Ctrl
//   (or ⌘) + wheel and a pinch zoom; dragging pans; with focus in the drawing's frame, + and −
//   zoom, the arrow keys pan and 0 resets. "Fit to screen" (maestro.js) is left alone.
// - Hovering or focusing a step adds is-self / is-up / is-down to the nodes and edges on its
//   paths (found by walking the edges' data-from / data-to) and says the counts in
//   #dag-lineage (aria-live).
// - The auto-refresh morphs the page (idiomorph), which puts the server's attributes back:
//   a MutationObserver applies the view and the highlight again after each morph.
"use strict";

(function () {
  const FACTOR = 1.25;
  const MIN = 0.2;
  const MAX = 6;
  const PAN = 40; // px per arrow key
  const views = new Map(); // frame id -> {k, x, y}
  let lit = null; // {frame, step} while a step is lit

  const svgIn = (frame) => frame && frame.querySelector("svg.dag");
  const viewIn = (frame) => frame && frame.querySelector("svg.dag g.dag-view");

  function stateOf(id) {
    if (!views.has(id)) views.set(id, { k: 1, x: 0, y: 0 });
    return views.get(id);
  }

  function applyView(frame) {
    const view = viewIn(frame);
    if (!view) return;
    const s = stateOf(frame.id);
    const plain = s.k === 1 && s.x === 0 && s.y === 0;
    const want = `translate(${s.x.toFixed(1)} ${s.y.toFixed(1)}) scale(${s.k.toFixed(4)})`;
    if (plain) {
      if (view.hasAttribute("transform")) view.removeAttribute("transform");
    } else if (view.getAttribute("transform") !== want) {
      view.setAttribute("transform", want);
    }
    frame.classList.toggle("zoomed", !plain);
  }

  // a point of the screen in the drawing's own units (its viewBox)
  function toDrawing(svg, clientX, clientY) {
    const matrix = svg.getScreenCTM();
    if (!matrix) return { x: 0, y: 0 };
    const point = svg.createSVGPoint();
    point.x = clientX;
    point.y = clientY;
    return point.matrixTransform(matrix.inverse());
  }

  function zoomAt(frame, factor, clientX, clientY) {
    const svg = svgIn(frame);
    if (!svg) return;
    const s = stateOf(frame.id);
    const k = Math.min(MAX, Math.max(MIN, s.k * factor));
    const at = toDrawing(svg, clientX, clientY);
    s.x = at.x - ((at.x - s.x) * k) / s.k;
    s.y = at.y - ((at.y - s.y) * k) / s.k;
    s.k = k;
    applyView(frame);
  }

  // the centre of what the frame shows of the drawing
  function centre(frame) {
    const box = frame.getBoundingClientRect();
    const svg = svgIn(frame).getBoundingClientRect();
    const left = Math.max(box.left, svg.left);
    const right = Math.min(box.right, svg.right);
    const top = Math.max(box.top, svg.top);
    const bottom = Math.min(box.bottom, svg.bottom);
    return [(left + right) / 2, (top + bottom) / 2];
  }

  function zoom(frame, how) {
    if (!svgIn(frame)) return;
    if (how === "reset") {
      views.set(frame.id, { k: 1, x: 0, y: 0 });
      applyView(frame);
      return;
    }
    const [x, y] = centre(frame);
    zoomAt(frame, how === "in" ? FACTOR : 1 / FACTOR, x, y);
  }

  function panBy(frame, dx, dy) {
    const svg = svgIn(frame);
    const matrix = svg && svg.getScreenCTM();
    if (!matrix) return;
    const s = stateOf(frame.id);
    s.x += dx / matrix.a;
    s.y += dy / matrix.d;
    applyView(frame);
  }

  // -- upstream / downstream -----------------------------------------------------------------

  function walk(from, next) {
    const seen = new Set();
    const todo = [from];
    while (todo.length) {
      for (const other of next.get(todo.pop()) || []) {
        if (!seen.has(other)) {
          seen.add(other);
          todo.push(other);
        }
      }
    }
    return seen;
  }

  function lineage(svg, step) {
    const up = new Map();
    const down = new Map();
    const edges = svg.querySelectorAll("path[data-from]");
    edges.forEach((edge) => {
      const from = edge.dataset.from;
      const to = edge.dataset.to;
      if (!down.has(from)) down.set(from, []);
      if (!up.has(to)) up.set(to, []);
      down.get(from).push(to);
      up.get(to).push(from);
    });
    return { edges, ancestors: walk(step, up), descendants: walk(step, down) };
  }

  function mark(element, name, on) {
    if (element.classList.contains(name) !== on) element.classList.toggle(name, on);
  }

  function paint(frame, step) {
    const svg = svgIn(frame);
    if (!svg) return;
    const found = step !== null && svg.querySelector(`.dag-node[data-step="${CSS.escape(step)}"]`);
    const on = Boolean(found);
    const { edges, ancestors, descendants } = lineage(svg, on ? step : "");
    const above = new Set([...ancestors, step]);
    const below = new Set([...descendants, step]);
    mark(svg, "dag-lit", on);
    svg.querySelectorAll(".dag-node").forEach((node) => {
      const id = node.dataset.step;
      mark(node, "is-self", on && id === step);
      mark(node, "is-up", on && ancestors.has(id));
      mark(node, "is-down", on && descendants.has(id));
    });
    edges.forEach((edge) => {
      const { from, to } = edge.dataset;
      mark(edge, "is-up", on && above.has(from) && above.has(to));
      mark(edge, "is-down", on && below.has(from) && below.has(to));
    });
    const told = document.getElementById("dag-lineage");
    const text = on
      ? `${step}: ${ancestors.size} upstream step(s), ${descendants.size} downstream step(s)`
      : "";
    if (told && told.textContent !== text) told.textContent = text;
  }

  function light(frame, step) {
    if (lit && lit.frame === frame && lit.step === step) return;
    lit = step === null ? null : { frame, step };
    paint(frame, step);
  }

  function nodeOf(target) {
    if (!target || !target.closest) return null;
    // a node, or the link around it (what keyboard focus lands on)
    const link = target.matches("svg.dag a") ? target : null;
    const node = target.closest(".dag-node") || (link && link.querySelector(".dag-node"));
    return node && node.closest(".dag-wrap") ? node : null;
  }

  // -- events (delegated: the elements come and go with each refresh) ---------------------------

  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("[data-zoom][data-dag]");
    if (!button) return;
    const frame = document.getElementById(button.dataset.dag);
    if (frame) zoom(frame, button.dataset.zoom);
  });

  document.addEventListener("mouseover", (event) => {
    const node = nodeOf(event.target);
    const frame = event.target.closest && event.target.closest(".dag-wrap");
    if (node) light(node.closest(".dag-wrap"), node.dataset.step);
    else if (frame && lit && lit.frame === frame) light(frame, null);
  });
  document.addEventListener("mouseout", (event) => {
    const frame = event.target.closest && event.target.closest(".dag-wrap");
    if (frame && !frame.contains(event.relatedTarget) && lit && lit.frame === frame) {
      const focused = nodeOf(document.activeElement);
      light(frame, focused ? focused.dataset.step : null);
    }
  });
  document.addEventListener("focusin", (event) => {
    const node = nodeOf(event.target);
    if (node) light(node.closest(".dag-wrap"), node.dataset.step);
  });
  document.addEventListener("focusout", (event) => {
    if (nodeOf(event.target) && !nodeOf(event.relatedTarget) && lit) light(lit.frame, null);
  });

  document.addEventListener(
    "wheel",
    (event) => {
      if (!(event.ctrlKey || event.metaKey)) return; // a plain wheel scrolls the page
      const frame = event.target.closest && event.target.closest(".dag-wrap");
      if (!frame || !svgIn(frame)) return;
      event.preventDefault();
      zoomAt(frame, event.deltaY < 0 ? FACTOR : 1 / FACTOR, event.clientX, event.clientY);
    },
    { passive: false },
  );

  let drag = null;
  document.addEventListener("pointerdown", (event) => {
    const frame = event.button === 0 && event.target.closest && event.target.closest(".dag-wrap");
    if (!frame || !svgIn(frame)) return;
    drag = { frame, x: event.clientX, y: event.clientY, moved: false, id: event.pointerId };
  });
  document.addEventListener("pointermove", (event) => {
    if (!drag || event.pointerId !== drag.id) return;
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    if (!drag.moved && Math.hypot(dx, dy) < 4) return; // a click, not a drag (yet)
    if (!drag.moved) drag.frame.classList.add("panning");
    drag.moved = true;
    drag.x = event.clientX;
    drag.y = event.clientY;
    panBy(drag.frame, dx, dy);
    event.preventDefault();
  });
  function endDrag() {
    if (!drag) return;
    drag.frame.classList.remove("panning");
    if (drag.moved) {
      // the click that ends a drag does not follow the link it started on
      const swallow = (event) => {
        event.preventDefault();
        event.stopPropagation();
      };
      document.addEventListener("click", swallow, { capture: true, once: true });
      setTimeout(() => document.removeEventListener("click", swallow, { capture: true }), 0);
    }
    drag = null;
  }
  document.addEventListener("pointerup", endDrag);
  document.addEventListener("pointercancel", endDrag);

  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const frame = event.target.closest && event.target.closest(".dag-wrap");
    if (!frame || !svgIn(frame)) return;
    const moves = { ArrowLeft: [PAN, 0], ArrowRight: [-PAN, 0], ArrowUp: [0, PAN], ArrowDown: [0, -PAN] };
    if (event.key === "+" || event.key === "=") zoom(frame, "in");
    else if (event.key === "-" || event.key === "_") zoom(frame, "out");
    else if (event.key === "0") zoom(frame, "reset");
    else if (moves[event.key]) panBy(frame, ...moves[event.key]);
    else return;
    event.preventDefault();
  });

  // -- after each refresh ---------------------------------------------------------------------

  function again() {
    document.querySelectorAll(".dag-wrap").forEach((frame) => {
      if (views.has(frame.id)) applyView(frame);
    });
    if (lit) {
      const frame = document.getElementById(lit.frame.id);
      if (frame) {
        lit.frame = frame;
        paint(frame, lit.step);
      } else {
        lit = null;
      }
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const main = document.getElementById("main");
    if (!main || !window.MutationObserver) return;
    // each pass changes only what differs, so its own changes end the round
    new MutationObserver(again).observe(main, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ["class", "transform"],
    });
  });
})();
