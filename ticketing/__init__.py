"""Omnichannel complaint ticketing and response-time tracker."""
