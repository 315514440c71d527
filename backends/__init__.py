"""Format plugins, one file per format; the contract they implement and the registry that
finds them live in the core (poseexport/contract/)."""
