"""Operations: installing, starting and supervising the services Qonys runs on."""
