"""Deterministic generator of MultiNERD-like sentences: the bundled sample and the benchmarks' data.

The repository may not hold real MultiNERD data (CC BY-NC-SA), so the quickstart and the
tests run on sentences made here from entity lists and templates written for this project.
The output mimics what matters to the pipeline: the hub's jsonl layout with integer tag ids
taken from :data:`multinerd.labels.MULTINERD_TAGS` (so ids cannot drift from names), several
languages in the same folders, all 15 types in every English split, sentence lengths with
MultiNERD's shape (about 22 words on average, a tail past 100, a few past 512 sub-tokens),
and entity pools kept mostly apart per split, so that test scores measure generalisation
rather than memory.

    python -m multinerd.data.samplegen OUTDIR --train 1200 --validation 300 --test 400
    python -m multinerd.data.samplegen --sample          # rewrite the bundled sample
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from multinerd.data.corpus import SAMPLE_DIR
from multinerd.labels import MULTINERD_TAGS, MULTINERD_TYPES

#: Sizes of the bundled sample: small enough to train MiniLM-L6 in a minute or two on 2 CPU cores.
SAMPLE_SIZES: dict[str, int] = {"train": 1200, "validation": 300, "test": 400}
SAMPLE_OTHER_SIZES: dict[str, int] = {"train": 100, "validation": 100, "test": 100}
SAMPLE_LANGS: tuple[str, ...] = ("en", "de", "es")
#: The hub's folder and file prefix for each split.
HUB_PREFIX: dict[str, str] = {"train": "train", "validation": "val", "test": "test"}
#: Share of validation and test entities drawn from the training pool; the rest are unseen in training.
SHARED_ENTITY_RATE = 0.08
#: Share of each entity list given to each split's own pool.
POOL_SHARES: dict[str, float] = {"train": 0.6, "validation": 0.15, "test": 0.25}
#: Words a "long" sentence reaches: past 512 WordPiece sub-tokens for any English WordPiece vocabulary.
LONG_SENTENCE_WORDS = 540

_TAG_ID: dict[str, int] = {tag: i for i, tag in enumerate(MULTINERD_TAGS)}

# Relative frequency of each type as the subject of a clause: skewed like MultiNERD
# (LOC, PER, ORG common; BIO and INST rare) yet frequent enough to learn from a small sample.
_TYPE_WEIGHTS: dict[str, int] = {
    "LOC": 20, "PER": 16, "ORG": 12, "ANIM": 6, "DIS": 5, "PLANT": 5, "FOOD": 5, "MEDIA": 5,
    "EVE": 5, "TIME": 4, "CEL": 4, "VEHI": 4, "MYTH": 3, "BIO": 3, "INST": 3,
}  # fmt: skip

# Clauses per sentence and their weights: most sentences have one to three clauses,
# a few join up to fourteen (the tail past 100 words).
_CLAUSES: tuple[tuple[int, float], ...] = (
    (1, 0.30), (2, 0.36), (3, 0.18), (4, 0.08), (5, 0.035), (6, 0.02), (7, 0.01),
    (9, 0.006), (11, 0.005), (14, 0.004),
)  # fmt: skip

_FIRST_NAMES = (
    "Anna", "James", "Maria", "Thomas", "Sophie", "David", "Elena", "Michael", "Laura", "Peter",
    "Clara", "Daniel", "Julia", "Robert", "Helen", "Martin", "Sarah", "Paul", "Emma", "George",
    "Lucia", "Henry", "Olivia", "Frank", "Alice", "Victor", "Grace", "Samuel", "Irene", "Oscar",
    "Nora", "Hugo", "Rosa", "Felix", "Ingrid", "Pablo", "Yuki", "Ahmed", "Fatima", "Kofi",
)  # fmt: skip

_SURNAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Taylor", "Anderson", "Thompson", "Harris", "Clarke",
    "Walker", "Wright", "Robinson", "Hughes", "Edwards", "Morgan", "Bennett", "Fletcher", "Gallagher",
    "Müller", "Schneider", "Fischer", "Weber", "Becker", "Hoffmann", "Schulz", "Koch", "Richter",
    "Wolf", "Neumann", "Krüger", "García", "Fernández", "López", "Martínez", "Sánchez", "Pérez",
    "Gómez", "Díaz", "Romero", "Navarro", "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi",
    "Conti", "Moreau", "Laurent", "Lefebvre", "Dubois", "Fontaine", "Nakamura", "Tanaka", "Sato",
    "Kowalski", "Nowak", "Novák", "Horváth", "Jensen", "Nielsen", "Larsen", "Lindqvist", "Virtanen",
    "Papadopoulos", "O'Brien", "Murphy", "Kelly", "Byrne", "Mensah", "Okafor", "Adeyemi", "Patel",
    "Sharma", "Kapoor", "Chen", "Wang", "Kim", "Park", "Nguyen", "Silva", "Santos", "Costa",
    "Pereira", "Ivanov", "Petrov", "Volkov", "Haddad", "Khalil", "Cohen", "Levi",
)  # fmt: skip

_SHARED_ENTITIES: dict[str, tuple[str, ...]] = {
    "ORG": (
        "United Nations", "European Union", "World Health Organization", "Red Cross", "Microsoft",
        "Siemens", "Volkswagen Group", "Nokia", "Sony", "Toyota", "IBM", "Google", "Bayern Munich",
        "Real Madrid", "FC Barcelona", "Manchester United", "Juventus", "Ajax", "Boston Celtics",
        "University of Oxford", "University of Cambridge", "Harvard University", "Sorbonne",
        "Heidelberg University", "Massachusetts Institute of Technology", "Royal Society", "BBC",
        "Reuters", "Deutsche Bahn", "Lufthansa", "British Airways", "NASA", "European Space Agency",
        "Labour Party", "Social Democratic Party", "Supreme Court", "Bundestag", "Berlin Philharmonic",
        "Vienna Philharmonic", "The Beatles", "Greenpeace", "Amnesty International", "Interpol",
        "NATO", "UNESCO", "Bank of England", "Federal Reserve", "Nestlé", "Unilever", "Philips",
    ),
    "BIO": (
        "Escherichia coli", "Staphylococcus aureus", "Streptococcus pneumoniae", "Bacillus subtilis",
        "Saccharomyces cerevisiae", "Candida albicans", "Plasmodium falciparum",
        "Mycobacterium tuberculosis", "Helicobacter pylori", "Salmonella enterica",
        "Listeria monocytogenes", "Vibrio cholerae", "Aspergillus niger", "Penicillium chrysogenum",
        "Clostridium botulinum", "Lactobacillus acidophilus", "Bifidobacterium longum",
        "Pseudomonas aeruginosa", "Toxoplasma gondii", "Trypanosoma brucei", "Giardia lamblia",
        "Neisseria meningitidis", "Legionella pneumophila", "Yersinia pestis",
    ),
    "CEL": (
        "Mars", "Jupiter", "Saturn", "Venus", "Mercury", "Neptune", "Uranus", "Pluto", "Ceres",
        "Europa", "Titan", "Ganymede", "Io", "Callisto", "Phobos", "Andromeda Galaxy", "Sirius",
        "Betelgeuse", "Alpha Centauri", "Proxima Centauri", "Vega", "Polaris", "Rigel", "Aldebaran",
        "Orion Nebula", "Crab Nebula", "Large Magellanic Cloud", "Triangulum Galaxy", "Vesta",
        "Eris", "Sedna", "Enceladus", "Triton", "Comet Hale-Bopp",
    ),
    "MEDIA": (
        "The Great Gatsby", "Pride and Prejudice", "War and Peace", "Moby-Dick", "Don Quixote",
        "One Hundred Years of Solitude", "The Lord of the Rings", "Brave New World",
        "Nineteen Eighty-Four", "Abbey Road", "Rumours", "Kind of Blue", "Star Wars", "Casablanca",
        "Citizen Kane", "The Godfather", "Metropolis", "Vertigo", "Jaws", "Game of Thrones",
        "Breaking Bad", "The Simpsons", "Doctor Who", "The Guardian", "Le Monde", "Der Spiegel",
        "National Geographic", "Bohemian Rhapsody", "Hey Jude", "The Magic Flute", "Swan Lake",
        "The Four Seasons", "Hamlet", "Macbeth", "Faust", "Les Misérables", "Beowulf",
        "The Odyssey", "Blade Runner", "Ulysses",
    ),
    "MYTH": (
        "Zeus", "Hera", "Athena", "Apollo", "Poseidon", "Hades", "Aphrodite", "Hermes", "Odin",
        "Thor", "Loki", "Freyja", "Baldr", "Anubis", "Osiris", "Ra", "Horus", "Quetzalcoatl",
        "Medusa", "Minotaur", "Pegasus", "Cerberus", "Hercules", "Perseus", "Prometheus", "Cupid",
        "Fenrir", "Amaterasu", "Susanoo", "Ganesha", "Baba Yaga", "Gilgamesh", "Enkidu",
        "Morrigan", "Cú Chulainn",
    ),
    "VEHI": (
        "Boeing 747", "Airbus A380", "Concorde", "Ford Model T", "Volkswagen Beetle", "Mini Cooper",
        "Citroën 2CV", "Fiat 500", "Porsche 911", "Jaguar E-Type", "Land Rover Defender",
        "Toyota Corolla", "Tesla Model S", "Vespa", "RMS Titanic", "HMS Victory", "Queen Mary 2",
        "Cutty Sark", "Flying Scotsman", "Shinkansen", "Space Shuttle Columbia", "Saturn V",
        "Sputnik 1", "Supermarine Spitfire", "Messerschmitt Bf 109", "Douglas DC-3",
        "Lockheed SR-71 Blackbird", "Bugatti Veyron", "Orient Express", "Harley-Davidson Sportster",
    ),
}  # fmt: skip

_ENTITIES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        **_SHARED_ENTITIES,
        "LOC": (
            "Paris", "London", "Berlin", "Madrid", "Rome", "Vienna", "Prague", "Lisbon", "Dublin",
            "Edinburgh", "Oslo", "Stockholm", "Helsinki", "Warsaw", "Budapest", "Athens", "Cairo",
            "Nairobi", "Lagos", "Accra", "Mumbai", "Delhi", "Kolkata", "Shanghai", "Beijing", "Tokyo",
            "Osaka", "Seoul", "Manila", "Jakarta", "Sydney", "Melbourne", "Auckland", "Toronto",
            "Montreal", "Vancouver", "Chicago", "Boston", "Denver", "Seattle", "New York City",
            "Los Angeles", "San Francisco", "New Orleans", "Mexico City", "Buenos Aires", "Santiago",
            "Lima", "Bogotá", "Quito", "France", "Germany", "Italy", "Spain", "Portugal", "Norway",
            "Brazil", "Argentina", "Canada", "Australia", "Kenya", "Egypt", "Japan", "India", "Peru",
            "River Thames", "Rhine", "Danube", "Amazon River", "Lake Geneva", "Lake Victoria",
            "Mount Everest", "Mont Blanc", "Sahara", "Alps", "Andes", "Himalayas", "Yorkshire",
            "Bavaria", "Catalonia", "Tuscany", "Normandy", "Patagonia", "Siberia", "Tasmania",
        ),
        "ANIM": (
            "red fox", "grey wolf", "brown bear", "polar bear", "snow leopard", "bald eagle",
            "golden eagle", "barn owl", "peregrine falcon", "honey badger", "African elephant",
            "Bengal tiger", "giant panda", "red panda", "blue whale", "humpback whale",
            "bottlenose dolphin", "great white shark", "emperor penguin", "king cobra",
            "Komodo dragon", "green sea turtle", "chimpanzee", "mountain gorilla", "orangutan",
            "cheetah", "giraffe", "hippopotamus", "kangaroo", "koala", "platypus", "wombat", "moose",
            "reindeer", "bison", "wild boar", "European badger", "hedgehog", "sea otter", "beaver",
            "Atlantic salmon", "monarch butterfly", "honeybee", "house sparrow", "flamingo",
            "wandering albatross", "common octopus",
        ),
        "DIS": (
            "tuberculosis", "malaria", "cholera", "measles", "smallpox", "influenza",
            "diabetes mellitus", "asthma", "pneumonia", "hepatitis B", "typhoid fever", "yellow fever",
            "dengue fever", "leprosy", "poliomyelitis", "rabies", "tetanus", "diphtheria",
            "whooping cough", "Alzheimer 's disease", "Parkinson 's disease", "multiple sclerosis",
            "leukemia", "lung cancer", "breast cancer", "schizophrenia", "bronchitis", "arthritis",
            "osteoporosis", "hypertension", "migraine", "scurvy", "anaemia", "meningitis",
            "Ebola virus disease", "Lyme disease", "sickle cell anaemia", "Crohn 's disease",
            "coeliac disease", "glaucoma", "epilepsy",
        ),
        "EVE": (
            "World War I", "World War II", "French Revolution", "American Civil War",
            "Battle of Hastings", "Battle of Waterloo", "Battle of Trafalgar", "Siege of Leningrad",
            "1936 Summer Olympics", "2008 Summer Olympics", "2012 Summer Olympics", "1998 FIFA World Cup",
            "2014 FIFA World Cup", "Eurovision Song Contest 1974", "Congress of Vienna",
            "Glorious Revolution", "Russian Revolution", "Boston Tea Party", "Spanish Civil War",
            "Thirty Years War", "Hundred Years War", "Crimean War", "Boer War", "Woodstock Festival",
            "Tour de France", "Wimbledon Championships", "Live Aid", "Great Fire of London",
            "Chernobyl disaster", "Battle of Stalingrad", "Gallipoli campaign",
        ),
        "FOOD": (
            "lasagna", "sushi", "paella", "goulash", "ratatouille", "apple pie", "cheesecake",
            "croissant", "baguette", "pretzel", "sauerkraut", "bratwurst", "risotto", "gnocchi",
            "tiramisu", "guacamole", "hummus", "falafel", "kimchi", "ramen", "moussaka", "borscht",
            "pierogi", "fish and chips", "shepherd 's pie", "gazpacho", "churros", "pad thai", "pho",
            "couscous", "mozzarella", "camembert", "cheddar", "chocolate mousse", "Black Forest cake",
            "Yorkshire pudding", "Wiener schnitzel",
        ),
        "INST": (
            "violin", "viola", "cello", "double bass", "harp", "piano", "harpsichord", "pipe organ",
            "accordion", "clarinet", "oboe", "bassoon", "flute", "saxophone", "trumpet", "trombone",
            "French horn", "tuba", "banjo", "mandolin", "sitar", "ukulele", "bagpipes", "xylophone",
            "didgeridoo", "theremin", "lute", "balalaika", "electric guitar", "acoustic guitar",
        ),
        "PLANT": (
            "sunflower", "Venus flytrap", "giant sequoia", "silver birch", "lavender", "rosemary",
            "tulip", "daffodil", "Quercus robur", "Ginkgo biloba", "Arabidopsis thaliana", "Rosa canina",
            "Acer saccharum", "Pinus sylvestris", "Olea europaea", "Coffea arabica", "Camellia sinensis",
            "Eucalyptus globulus", "Taraxacum officinale", "baobab", "Douglas fir", "Scots pine",
            "sugar maple", "weeping willow", "stinging nettle", "common ivy", "water lily", "saguaro",
            "bamboo", "edelweiss", "bluebell", "foxglove", "cork oak", "monkey puzzle tree",
            "Welwitschia mirabilis", "Rafflesia arnoldii",
        ),
        "TIME": (
            "Middle Ages", "Renaissance", "Bronze Age", "Iron Age", "Stone Age", "Victorian era",
            "Edwardian era", "Age of Enlightenment", "Jurassic", "Cretaceous", "Triassic", "Pleistocene",
            "Holocene", "Belle Époque", "Roaring Twenties", "Baroque period", "Romantic period",
            "Meiji era", "Edo period", "Early Middle Ages", "Late Antiquity", "Neolithic",
            "Paleolithic", "Mesozoic", "Gilded Age", "Georgian era", "Heian period",
        ),
    },
    "de": {
        **_SHARED_ENTITIES,
        "LOC": (
            "München", "Köln", "Hamburg", "Wien", "Zürich", "Dresden", "Leipzig", "Bremen", "Graz",
            "Salzburg", "Bern", "Basel", "Nürnberg", "Stuttgart", "Frankfurt am Main", "Österreich",
            "Schweiz", "Deutschland", "Bayern", "Sachsen", "Tirol", "Bodensee", "Schwarzwald",
            "Zugspitze", "Elbe", "Donau", "Rhein", "Nordsee", "Ostsee", "Harz",
        ),
        "ANIM": (
            "Rotfuchs", "Braunbär", "Wolf", "Luchs", "Steinadler", "Uhu", "Wanderfalke", "Dachs",
            "Igel", "Biber", "Fischotter", "Rothirsch", "Wildschwein", "Eisbär", "Blauwal", "Elch",
        ),
        "DIS": (
            "Tuberkulose", "Malaria", "Cholera", "Masern", "Pocken", "Grippe", "Diabetes mellitus",
            "Asthma", "Lungenentzündung", "Keuchhusten", "Tollwut", "Lepra", "Multiple Sklerose",
            "Leukämie", "Lungenkrebs", "Borreliose",
        ),
        "EVE": (
            "Erster Weltkrieg", "Zweiter Weltkrieg", "Französische Revolution", "Dreißigjähriger Krieg",
            "Wiener Kongress", "Märzrevolution", "Olympische Sommerspiele 1972",
            "Fußball-Weltmeisterschaft 1954",
            "Oktoberfest", "Berliner Mauerfall", "Bauernkrieg", "Völkerschlacht bei Leipzig",
        ),
        "FOOD": (
            "Sauerkraut", "Bratwurst", "Brezel", "Apfelstrudel", "Sachertorte", "Schwarzwälder Kirschtorte",
            "Spätzle", "Maultaschen", "Kartoffelsalat", "Leberkäse", "Knödel", "Rösti",
        ),
        "INST": (
            "Geige", "Bratsche", "Cello", "Kontrabass", "Harfe", "Klavier", "Cembalo", "Orgel",
            "Akkordeon", "Klarinette", "Oboe", "Fagott", "Querflöte", "Trompete", "Posaune", "Tuba",
        ),
        "PLANT": (
            "Stieleiche", "Sonnenblume", "Lavendel", "Rosmarin", "Tulpe", "Edelweiß", "Brennnessel",
            "Löwenzahn", "Fingerhut", "Rotbuche", "Waldkiefer", "Hängebirke", "Efeu", "Seerose",
        ),
        "TIME": (
            "Mittelalter", "Renaissance", "Bronzezeit", "Eisenzeit", "Steinzeit", "Barock", "Romantik",
            "Biedermeier", "Gründerzeit", "Jura", "Kreidezeit", "Aufklärung",
        ),
    },
    "es": {
        **_SHARED_ENTITIES,
        "LOC": (
            "Sevilla", "Barcelona", "Valencia", "Bilbao", "Granada", "Málaga", "Zaragoza", "Toledo",
            "Salamanca", "Córdoba", "Buenos Aires", "Ciudad de México", "Bogotá", "Lima", "Montevideo",
            "Caracas", "La Habana", "Andalucía", "Galicia", "Cataluña", "Castilla", "Pirineos",
            "río Ebro", "río Guadalquivir", "Tenerife", "Mallorca", "Argentina", "Chile", "Perú",
            "México",
        ),
        "ANIM": (
            "lince ibérico", "lobo gris", "oso pardo", "águila imperial", "búho real", "jabalí",
            "ciervo rojo", "delfín mular", "ballena azul", "tortuga verde", "flamenco", "cóndor andino",
            "jaguar", "llama", "alpaca", "perezoso",
        ),
        "DIS": (
            "tuberculosis", "malaria", "cólera", "sarampión", "viruela", "gripe", "diabetes mellitus",
            "asma", "neumonía", "tos ferina", "rabia", "lepra", "esclerosis múltiple", "leucemia",
            "cáncer de pulmón", "fiebre amarilla",
        ),
        "EVE": (
            "Primera Guerra Mundial", "Segunda Guerra Mundial", "Guerra Civil Española",
            "Revolución Francesa", "Revolución Mexicana", "Batalla de Trafalgar",
            "Juegos Olímpicos de 1992",
            "Copa Mundial de Fútbol de 1978", "Reconquista", "Guerra de la Independencia",
            "Tomatina", "Feria de Abril",
        ),
        "FOOD": (
            "paella", "gazpacho", "tortilla de patatas", "churros", "jamón ibérico", "empanada",
            "tamales", "ceviche", "guacamole", "arepa", "fabada", "salmorejo",
        ),
        "INST": (
            "guitarra española", "violín", "violonchelo", "arpa", "piano", "órgano", "acordeón",
            "clarinete", "flauta", "trompeta", "castañuelas", "charango", "bandoneón", "marimba",
        ),
        "PLANT": (
            "olivo", "alcornoque", "girasol", "lavanda", "romero", "tulipán", "pino piñonero",
            "encina", "jacaranda", "buganvilla", "agave", "nopal", "ceibo", "eucalipto",
        ),
        "TIME": (
            "Edad Media", "Renacimiento", "Edad de Bronce", "Edad de Hierro", "Edad de Piedra",
            "Siglo de Oro", "Ilustración", "Barroco", "Jurásico", "Cretácico", "Antigüedad tardía",
            "Edad Moderna",
        ),
    },
}

# Clause templates per language and type: "{TYPE}" is an entity slot, "{YEAR}", "{NUM}" and
# "{AGE}" are numbers tagged O, everything else is a word tagged O.
_TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "PER": (
            "{PER} was born in {LOC} in {YEAR}", "{PER} studied law at {ORG}",
            "{PER} married {PER} in {YEAR}",
            "the album was produced by {PER}", "{PER} later moved to {LOC} , where he taught music",
            "according to {PER} , the project cost {NUM} million dollars", "{PER} joined {ORG} in {YEAR}",
            "in {YEAR} {PER} became the director of {ORG}", "the portrait was painted by {PER}",
            "she worked with {PER} on several films",
        ),
        "ORG": (
            "{ORG} opened an office in {LOC}", "the agreement was signed by {ORG} and {ORG}",
            "{ORG} won the league title in {YEAR}", "he worked for {ORG} for {NUM} years",
            "shares of {ORG} fell sharply", "the report was published by {ORG}",
            "{ORG} was founded in {YEAR} by {PER}",
        ),
        "LOC": (
            "the town lies {NUM} kilometres north of {LOC}", "she spent her childhood in {LOC}",
            "the river flows through {LOC} before reaching {LOC}",
            "{LOC} has about {NUM} thousand inhabitants",
            "they travelled from {LOC} to {LOC}", "the festival is held every summer in {LOC}",
            "the company moved its headquarters to {LOC}",
        ),
        "ANIM": (
            "the {ANIM} is found throughout {LOC}", "the reserve protects the {ANIM} and the {ANIM}",
            "a {ANIM} was seen near the village", "the diet of the {ANIM} consists mainly of insects",
            "the {ANIM} is listed as endangered",
        ),
        "BIO": (
            "{BIO} was isolated from the soil sample", "infection with {BIO} can cause severe illness",
            "the genome of {BIO} was sequenced in {YEAR}", "researchers at {ORG} studied {BIO}",
        ),
        "CEL": (
            "the probe reached {CEL} in {YEAR}", "{CEL} can be seen with the naked eye",
            "astronomers observed a storm on {CEL}", "the orbit of {CEL} takes {NUM} days",
        ),
        "DIS": (
            "he died of {DIS} in {YEAR}", "an outbreak of {DIS} killed {NUM} people in {LOC}",
            "she was diagnosed with {DIS}", "the hospital specialises in the treatment of {DIS}",
            "a vaccine against {DIS} was developed by {ORG}",
        ),
        "EVE": (
            "he fought in the {EVE}", "the {EVE} ended in {YEAR}", "she won a gold medal at the {EVE}",
            "the city was badly damaged during the {EVE}", "the museum has an exhibition on the {EVE}",
        ),
        "FOOD": (
            "the restaurant is known for its {FOOD}", "{FOOD} is traditionally served with bread",
            "the local speciality is {FOOD}", "they ate {FOOD} and {FOOD} at the party",
        ),
        "INST": (
            "she played the {INST} in the orchestra", "he learned to play the {INST} at the age of {AGE}",
            "the piece is written for {INST} and {INST}", "the {INST} solo was recorded in {LOC}",
        ),
        "MEDIA": (
            "the film {MEDIA} was released in {YEAR}", "she wrote a review of {MEDIA}",
            "{MEDIA} sold more than {NUM} thousand copies", "the song appeared in {MEDIA}",
            "he first read {MEDIA} as a student",
        ),
        "MYTH": (
            "in Greek mythology , {MYTH} was the son of {MYTH}", "the temple was dedicated to {MYTH}",
            "according to legend , {MYTH} defeated {MYTH}", "a statue of {MYTH} stands in the square",
        ),
        "PLANT": (
            "the garden is full of {PLANT}", "{PLANT} grows on dry , sandy soil",
            "the hillside is covered with {PLANT} and {PLANT}", "the leaves of {PLANT} were used in medicine",
        ),
        "TIME": (
            "the castle was built during the {TIME}", "the fossil dates from the {TIME}",
            "the style was popular in the {TIME}", "many such towns declined after the {TIME}",
        ),
        "VEHI": (
            "the {VEHI} made its first journey in {YEAR}", "he drove a {VEHI} across {LOC}",
            "the {VEHI} was built in {LOC}", "the museum displays a restored {VEHI}",
        ),
    },
    "de": {
        "PER": ("{PER} wurde {YEAR} in {LOC} geboren", "{PER} arbeitete für {ORG}"),
        "ORG": ("{ORG} eröffnete ein Büro in {LOC}", "{ORG} wurde {YEAR} gegründet"),
        "LOC": (
            "die Stadt liegt {NUM} Kilometer nördlich von {LOC}", "sie verbrachte ihre Kindheit in {LOC}",
        ),
        "ANIM": ("im Park leben {ANIM} und {ANIM}",),
        "BIO": ("{BIO} wurde im Labor untersucht",),
        "CEL": ("die Sonde flog {YEAR} an {CEL} vorbei",),
        "DIS": ("er starb {YEAR} an {DIS}",),
        "EVE": ("das Ereignis {EVE} prägte die Region",),
        "FOOD": ("das Gasthaus ist bekannt für {FOOD}",),
        "INST": ("sie spielte {INST} im Orchester",),
        "MEDIA": ("das Werk {MEDIA} erschien {YEAR}",),
        "MYTH": ("der Tempel war {MYTH} geweiht",),
        "PLANT": ("im Garten wachsen {PLANT} und {PLANT}",),
        "TIME": ("die Epoche {TIME} prägte die Baukunst",),
        "VEHI": ("das Modell {VEHI} wurde in {LOC} gebaut",),
    },
    "es": {
        "PER": ("{PER} nació en {LOC} en {YEAR}", "{PER} trabajó para {ORG}"),
        "ORG": ("{ORG} abrió una oficina en {LOC}", "{ORG} fue fundada en {YEAR}"),
        "LOC": ("la ciudad está a {NUM} kilómetros al norte de {LOC}", "pasó su infancia en {LOC}"),
        "ANIM": ("en el parque viven {ANIM} y {ANIM}",),
        "BIO": ("{BIO} fue estudiada en el laboratorio",),
        "CEL": ("la sonda llegó a {CEL} en {YEAR}",),
        "DIS": ("murió de {DIS} en {YEAR}",),
        "EVE": ("{EVE} cambió la historia de la región",),
        "FOOD": ("el restaurante es famoso por su {FOOD}",),
        "INST": ("tocaba {INST} en la orquesta",),
        "MEDIA": ("la obra {MEDIA} se publicó en {YEAR}",),
        "MYTH": ("el templo estaba dedicado a {MYTH}",),
        "PLANT": ("en el jardín crecen {PLANT} y {PLANT}",),
        "TIME": ("el estilo era popular durante la {TIME}",),
        "VEHI": ("el {VEHI} se fabricó en {LOC}",),
    },
}  # fmt: skip

# Whole sentences of a few words, as Wikipedia has them (captions, list items, headings).
_SHORT: dict[str, tuple[str, ...]] = {
    "en": ("{PER} resigned", "{ORG} disbanded", "see {LOC}", "{MEDIA} ( {YEAR} )", "{CEL} rose"),
    "de": ("{PER} trat zurück", "siehe {LOC}"),
    "es": ("{PER} dimitió", "véase {LOC}"),
}

_CONNECTORS: dict[str, tuple[tuple[str, ...], ...]] = {
    "en": ((",", "and"), (",", "while"), (";",), (",", "after", "which"), (",", "although"), (",", "but")),
    "de": ((",", "und"), (",", "während"), (";",), (",", "aber")),
    "es": ((",", "y"), (",", "mientras"), (";",), (",", "pero")),
}


def entity_names(lang: str, entity_type: str) -> tuple[str, ...]:
    """Every name the generator may use for ``entity_type`` in ``lang`` (persons: surnames)."""
    if entity_type == "PER":
        return _SURNAMES
    return _ENTITIES[lang][entity_type]


@cache
def _pools(lang: str, seed: int) -> dict[str, dict[str, tuple[str, ...]]]:
    """Each type's names cut into disjoint train / validation / test pools (persons: by surname)."""
    pools: dict[str, dict[str, tuple[str, ...]]] = {}
    for entity_type in MULTINERD_TYPES:
        names = sorted(entity_names(lang, entity_type))
        random.Random(f"pools-{seed}-{lang}-{entity_type}").shuffle(names)
        n_train = max(1, round(len(names) * POOL_SHARES["train"]))
        n_validation = max(1, round(len(names) * POOL_SHARES["validation"]))
        pools[entity_type] = {
            "train": tuple(names[:n_train]),
            "validation": tuple(names[n_train : n_train + n_validation]),
            "test": tuple(names[n_train + n_validation :]),
        }
    return pools


class _Writer:
    """Builds one sentence clause by clause, tagging entity slots with B-/I- of their type."""

    def __init__(self, rng: random.Random, lang: str, split: str, seed: int) -> None:
        self.rng, self.lang, self.split = rng, lang, split
        self.pools = _pools(lang, seed)
        self.words: list[str] = []
        self.tags: list[str] = []

    def entity(self, entity_type: str) -> str:
        rng = self.rng
        pool = self.pools[entity_type][self.split]
        if self.split != "train" and rng.random() < SHARED_ENTITY_RATE:
            pool = self.pools[entity_type]["train"]
        name = rng.choice(pool)
        if entity_type == "PER" and rng.random() < 0.85:
            return f"{rng.choice(_FIRST_NAMES)} {name}"
        return name

    def fill(self, template: str) -> None:
        rng = self.rng
        for token in template.split():
            if token[0] != "{" or len(token) < 3:
                self.words.append(token)
                self.tags.append("O")
            elif token == "{YEAR}":
                self.words.append(str(rng.randint(1500, 2023)))
                self.tags.append("O")
            elif token in ("{NUM}", "{AGE}"):
                self.words.append(str(rng.randint(2, 950) if token == "{NUM}" else rng.randint(5, 16)))
                self.tags.append("O")
            else:
                entity_type = token[1:-1]
                for i, word in enumerate(self.entity(entity_type).split()):
                    self.words.append(word)
                    self.tags.append(f"{'I' if i else 'B'}-{entity_type}")

    def finish(self) -> tuple[list[str], list[str]]:
        self.words.append(".")
        self.tags.append("O")
        self.words[0] = self.words[0][0].upper() + self.words[0][1:]
        return self.words, self.tags


def _sentence(
    rng: random.Random, lang: str, split: str, seed: int, first_type: str | None, min_words: int = 0
) -> tuple[list[str], list[str]]:
    writer = _Writer(rng, lang, split, seed)
    clauses = rng.choices([n for n, _ in _CLAUSES], weights=[w for _, w in _CLAUSES])[0]
    if clauses == 1 and first_type is None and min_words == 0 and rng.random() < 0.2:
        writer.fill(rng.choice(_SHORT[lang]))
        return writer.finish()
    types, weights = list(_TYPE_WEIGHTS), list(_TYPE_WEIGHTS.values())
    done = 0
    while done < clauses or len(writer.words) < min_words:
        if done:
            writer.fill(" ".join(rng.choice(_CONNECTORS[lang])))
        entity_type = first_type if done == 0 and first_type else rng.choices(types, weights=weights)[0]
        writer.fill(rng.choice(_TEMPLATES[lang][entity_type]))
        done += 1
    return writer.finish()


def generate_sentences(lang: str, split: str, n: int, *, seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """``n`` sentences (words, IOB2 tags) of ``lang`` for ``split``, the same for the same arguments.

    The first 15 sentences made each start with a different type, so every type is present
    whenever ``n >= 15``; English splits also get a few sentences of 540+ words, long enough
    to exceed 512 sub-tokens. The order is shuffled afterwards.
    """
    if lang not in _ENTITIES:
        raise ValueError(f"no templates for language {lang!r}; available: {', '.join(_ENTITIES)}")
    if split not in HUB_PREFIX:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(HUB_PREFIX)}")
    rng = random.Random(f"{seed}-{lang}-{split}")
    n_long = min(max(2, n // 2000), n // 20) if lang == "en" else 0
    sentences = [
        _sentence(rng, lang, split, seed, MULTINERD_TYPES[i] if i < len(MULTINERD_TYPES) else None)
        for i in range(n - n_long)
    ]
    sentences += [_sentence(rng, lang, split, seed, None, LONG_SENTENCE_WORDS) for _ in range(n_long)]
    rng.shuffle(sentences)
    return sentences


def write_hub_layout(
    directory: str | Path,
    *,
    sizes: dict[str, int],
    langs: Sequence[str] = SAMPLE_LANGS,
    seed: int = 0,
    other_sizes: dict[str, int] | None = None,
) -> None:
    """Write ``train/train_{lang}.jsonl``, ``val/val_{lang}.jsonl``, ``test/test_{lang}.jsonl``.

    ``sizes`` gives English sentences per split (``train``, ``validation``, ``test``);
    ``other_sizes`` those of every other language (default: the same as ``sizes``). Each line
    is ``{"tokens": [...], "ner_tags": [MultiNERD ids], "lang": "xx"}``, as on the hub.
    """
    directory = Path(directory)
    for lang in langs:
        for split, n in (sizes if lang == "en" else other_sizes or sizes).items():
            if split not in HUB_PREFIX:
                raise ValueError(f"unknown split {split!r} in sizes; expected {', '.join(HUB_PREFIX)}")
            prefix = HUB_PREFIX[split]
            path = directory / prefix / f"{prefix}_{lang}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", encoding="utf-8", newline="\n") as out:
                for words, tags in generate_sentences(lang, split, n, seed=seed):
                    record = {"tokens": words, "ner_tags": [_TAG_ID[tag] for tag in tags], "lang": lang}
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_sample(directory: str | Path = SAMPLE_DIR) -> None:
    """Write the bundled sample (English, German, Spanish) exactly as committed."""
    write_hub_layout(
        directory, sizes=SAMPLE_SIZES, langs=SAMPLE_LANGS, seed=0, other_sizes=SAMPLE_OTHER_SIZES
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m multinerd.data.samplegen",
        description="Write MultiNERD-like synthetic sentences in the hub's jsonl layout.",
    )
    parser.add_argument("outdir", nargs="?", help="folder to write into (with --sample: the bundled one)")
    parser.add_argument("--sample", action="store_true", help="write the bundled sample with its own sizes")
    parser.add_argument("--train", type=int, default=SAMPLE_SIZES["train"], help="English training sentences")
    parser.add_argument("--validation", type=int, default=SAMPLE_SIZES["validation"])
    parser.add_argument("--test", type=int, default=SAMPLE_SIZES["test"])
    parser.add_argument("--other", type=int, default=None, help="sentences per split of each other language")
    parser.add_argument("--langs", default=",".join(SAMPLE_LANGS), help="comma-separated, from en,de,es")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.sample:
        write_sample(args.outdir or SAMPLE_DIR)
        return
    if args.outdir is None:
        parser.error("OUTDIR is required unless --sample is given")
    sizes = {"train": args.train, "validation": args.validation, "test": args.test}
    other = None if args.other is None else dict.fromkeys(sizes, args.other)
    langs = [lang.strip() for lang in args.langs.split(",") if lang.strip()]
    unknown = [lang for lang in langs if lang not in _ENTITIES]
    if unknown:
        parser.error(f"no templates for {unknown}; available: {', '.join(_ENTITIES)}")
    write_hub_layout(args.outdir, sizes=sizes, langs=langs, seed=args.seed, other_sizes=other)


if __name__ == "__main__":
    main()
