// The live run monitor's entry: mounted on #flowdeck-run by the run page, with
// the run and the user's permissions in #flowdeck-run-data (json_script).
import "./run.css";

import { createRoot } from "react-dom/client";

import type { RunPageConfig } from "./config";
import { RunApp } from "./RunApp";

const mount = document.getElementById("flowdeck-run");
const data = document.getElementById("flowdeck-run-data");
if (mount && data?.textContent) {
  const config = JSON.parse(data.textContent) as RunPageConfig;
  createRoot(mount).render(<RunApp config={config} />);
}
