"""Interop with other workflow systems: Argo Workflows files imported as
workflows (with their schedules) and versions exported as Argo documents.
The conversion is pure (flowcore.argo); this app saves and serves it."""
