// Measures a page as a person would meet it (tests/browser/test_layout.py):
// what is cut, cramped or wider than its place, and controls whose text is
// below WCAG AA contrast (4.5:1). Returns a list of problems, each a sentence.
(root) => {
  const problems = [];
  const scope = root ? document.querySelector(root) : document.body;
  const shown = (el) => {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.visibility !== "hidden" && style.display !== "none" && el.closest("[hidden], [aria-hidden=true]") === null;
  };
  const label = (el) => {
    const bits = [el.tagName.toLowerCase()];
    for (const attr of ["name", "aria-label", "data-testid"]) if (el.getAttribute(attr)) bits.push(`[${attr}="${el.getAttribute(attr)}"]`);
    if (typeof el.className === "string" && el.className.trim()) bits.push("." + el.className.trim().split(/\s+/).join("."));
    const text = (el.value || el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 40);
    return bits.join("") + (text ? ` "${text}"` : "");
  };
  // Text a person can still read in full on hover is not lost.
  const titled = (el) => {
    for (let e = el; e; e = e.parentElement) if (e.getAttribute && e.getAttribute("title")) return true;
    return false;
  };

  const page = document.documentElement;
  if (page.scrollWidth > page.clientWidth + 1) problems.push(`the page scrolls sideways (${page.scrollWidth}px in ${page.clientWidth}px)`);

  for (const el of scope.querySelectorAll("input, select, textarea")) {
    if (!shown(el) || ["checkbox", "radio", "hidden", "file", "color", "range"].includes(el.type)) continue;
    const width = el.getBoundingClientRect().width;
    if (width < 56) problems.push(`cramped: ${label(el)} is ${Math.round(width)}px wide`);
    if (el.scrollWidth > el.clientWidth + 1) problems.push(`cut: the text of ${label(el)} is wider than the field (${el.scrollWidth} > ${el.clientWidth})`);
  }

  for (const el of scope.querySelectorAll("*")) {
    if (!shown(el) || ["INPUT", "SELECT", "TEXTAREA", "svg", "SVG"].includes(el.tagName) || el.closest("svg")) continue;
    const style = getComputedStyle(el);
    const clips = ["hidden", "clip"].includes(style.overflowX) || style.textOverflow === "ellipsis";
    if (el.clientWidth <= 1) continue; // visually hidden, for screen readers
    // Code and commands are read whole: one scrolled sideways is cut too.
    const code = el.tagName === "PRE";
    if ((clips || code) && el.scrollWidth > el.clientWidth + 1 && el.textContent.trim() && !titled(el) && !el.closest(".react-flow")) {
      problems.push(`${code ? "cut" : "clipped"}: ${label(el)} (${el.scrollWidth}px of text in ${el.clientWidth}px)`);
    }
  }

  // Colours: rgb()/rgba() as Chromium computes them.
  const parse = (text) => {
    const match = /rgba?\(([^)]+)\)/.exec(text);
    if (!match) return null;
    const parts = match[1].split(/[\s,/]+/).filter(Boolean).map(Number);
    return [parts[0], parts[1], parts[2], parts.length > 3 ? parts[3] : 1];
  };
  const over = (top, bottom) => [0, 1, 2].map((i) => top[i] * top[3] + bottom[i] * (1 - top[3]));
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const colour = parse(getComputedStyle(e).backgroundColor);
      if (colour && colour[3] > 0) {
        layers.push(colour);
        if (colour[3] >= 1) break;
      }
    }
    let result = [255, 255, 255];
    for (const layer of layers.reverse()) result = over(layer, result);
    return result;
  };
  const luminance = (rgb) => {
    const [r, g, b] = rgb.map((v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const controls = "button, a[href], input, select, textarea, summary, [role=tab], [role=button], label";
  for (const el of scope.querySelectorAll(controls)) {
    if (!shown(el) || el.disabled || el.closest("fieldset[disabled]") || el.getAttribute("aria-disabled") === "true") continue;
    if (["checkbox", "radio", "hidden", "file", "range", "color"].includes(el.type)) continue;
    if (!(el.value || el.textContent || "").trim()) continue;
    if (el.closest(".react-flow__minimap, .react-flow__attribution")) continue;
    const style = getComputedStyle(el);
    const fg = parse(style.color);
    if (!fg) continue;
    const bg = background(el);
    const value = ratio(over(fg, bg), bg);
    const size = parseFloat(style.fontSize);
    const bold = Number(style.fontWeight) >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (value < needed) problems.push(`contrast ${value.toFixed(2)}:1 < ${needed}:1 for ${label(el)} (${style.color} on rgb(${bg.map(Math.round).join(", ")}))`);
  }
  return problems;
}
