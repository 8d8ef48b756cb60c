// The live run monitor's entry: mounted on #flowdeck-run by the run page.
import { createRoot } from "react-dom/client";

import { DagView } from "../graph/DagView";

const mount = document.getElementById("flowdeck-run");
if (mount) {
  createRoot(mount).render(
    <div style={{ height: 400 }}>
      <DagView tasks={[]} />
    </div>,
  );
}
