"""DOME: the Distributed Order Matching Engine."""
