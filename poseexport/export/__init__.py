"""Export: trace once, hand the graph to one backend per format, validate the artifact."""
