"""The test loop: creatives, influencers, links, conversion events, attribution, posteriors, Thompson."""
