"""Transforms: obligations applied to disclosed fields."""
