"""Datasets: named, versioned, content-addressed collections of cases, built from files or production traces."""
