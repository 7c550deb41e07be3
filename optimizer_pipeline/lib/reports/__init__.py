"""Reports: what a client and a creator read (brief tests, plain-language wording of patterns); pure logic."""
