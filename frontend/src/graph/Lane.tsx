// A lane drawn behind a group of nodes, in the graph's own coordinates: the
// exit handlers' "On exit" box, on the editor's canvas and the run page's.
// Only a picture: it takes no clicks, the nodes in it stay the nodes.
import { ViewportPortal } from "@xyflow/react";

import type { Box } from "./lanes";

export function Lane({ box, title, hint }: { box: Box; title: string; hint?: string }) {
  return (
    <ViewportPortal>
      <div
        className="fd-lane"
        data-testid="exit-lane"
        title={hint}
        style={{ transform: `translate(${box.x}px, ${box.y}px)`, width: box.width, height: box.height }}
      >
        <span className="fd-lane__title">{title}</span>
      </div>
    </ViewportPortal>
  );
}
