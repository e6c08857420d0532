"""Tests of comix_resources.detection."""
