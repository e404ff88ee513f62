"""Fitting loops of the models; each is a loop over the building blocks of :mod:`dnmf.updates`."""
