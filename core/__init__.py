"""What every app shares: domain errors and outages, request types (HackSoft's ``core``)."""
