mod stix_fixtures;
